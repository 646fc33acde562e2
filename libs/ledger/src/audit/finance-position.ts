import {
  assertNever,
  InconsistentHistoryError,
  instantOf,
  iso,
  occurredAtOf,
  type Allocation,
  type CreditAccountEvent,
  type CreditAccountEventType,
  type CreditType,
  type Instant,
} from '#domain';

/**
 * Finance's position in paid credits as of an instant (rule 13), from one pass over the ledger's events:
 * - the **liability**: paid credits still outstanding, in lots unexpired at the instant (rule 3);
 * - the **breakage**: paid credits whose lot expired, at or before the instant, with credits left in it.
 *
 * Each lot's money is its purchase's `amountMinor`; the value of part of a lot is that amount pro rata,
 * rounded to the nearest minor unit, halves up (see `proratedValueMinor`). Totals add the lots' rounded
 * values, so they always reconcile with the lines that make them up. Unpaid lots (trials, grants) carry
 * no money and are in neither report; the fold follows them only to check the allocations that use them.
 */
export interface FinanceLotLine {
  readonly accountId: string;
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  /** Liability: credits left at the instant. Breakage: credits left when the lot expired. */
  readonly remaining: number;
  readonly purchasedAt: string;
  readonly expiresAt: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly invoiceId: string | null;
  readonly remainingValueMinor: number;
}

export interface BreakageLotLine extends FinanceLotLine {
  /** Whether the ledger had recorded `CreditsExpired` for it by the instant (it may do so later). */
  readonly expiryRecorded: boolean;
}

export interface CurrencyTotal {
  readonly currency: string;
  readonly lots: number;
  readonly remainingValueMinor: number;
}

export interface CurrencyCreditTypeTotal extends CurrencyTotal {
  readonly creditType: CreditType;
  readonly remaining: number;
}

export interface FinanceTotals {
  readonly byCurrency: readonly CurrencyTotal[];
  readonly byCurrencyAndCreditType: readonly CurrencyCreditTypeTotal[];
}

export interface LiabilityReport {
  readonly asOf: string;
  readonly lots: readonly FinanceLotLine[];
  readonly totals: FinanceTotals;
}

export interface BreakageReport {
  readonly asOf: string;
  readonly lots: readonly BreakageLotLine[];
  readonly totals: FinanceTotals;
}

/**
 * The value of `part` of a lot of `whole` credits bought for `amountMinor`: amountMinor × part / whole,
 * rounded to the nearest minor unit with halves rounded up (every operand is non-negative, so "up" is
 * away from zero). Exact integer arithmetic: floor((2·amount·part + whole) / (2·whole)) in bigints, since
 * amount × part can pass 2^53.
 */
export function proratedValueMinor(amountMinor: number, part: number, whole: number): number {
  for (const [name, value] of [['amountMinor', amountMinor], ['part', part], ['whole', whole]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`proratedValueMinor: ${name} must be a non-negative safe integer, got ${value}`);
  }
  if (whole === 0 || part > whole) throw new RangeError(`proratedValueMinor: part ${part} of ${whole} is not a part of a lot`);
  const amount = BigInt(amountMinor);
  const w = BigInt(whole);
  // At most amountMinor, which is a safe integer: the conversion back is exact.
  return Number((2n * amount * BigInt(part) + w) / (2n * w));
}

/** A lot as the fold follows it (exported only for folds that cross threads). */
export interface FinanceLot {
  readonly accountId: string;
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly paid: boolean;
  readonly purchasedAt: string;
  readonly expiresAt: Instant;
  readonly amountMinor: number;
  readonly currency: string;
  readonly invoiceId: string | undefined;
  /** Spent credits are taken off; an expiry is not, so after expiry this is what expired. */
  remaining: number;
  expiryRecorded: boolean;
}

/**
 * One streaming fold for both reports. Feed it the ledger's events in global order (`$all`), every one
 * of them: events after `asOf` are skipped here, not by stopping the read, because `$all` is in commit
 * order and a back-filled account's events may be committed after later-dated events of other accounts.
 * Within one account, the stream is in time order, which is all a lot's state needs. The fold holds one
 * entry per lot, never the events.
 */
export class FinancePositionFold {
  private readonly accounts = new Map<string, Map<string, FinanceLot>>();

  constructor(readonly asOf: Instant) {
    if (!Number.isFinite(asOf)) throw new RangeError('FinancePositionFold needs a valid instant');
  }

  add(event: CreditAccountEvent): void {
    const at = instantOf(occurredAtOf(event));
    if (Number.isNaN(at)) throw new InconsistentHistoryError(`${event.type} of ${event.data.accountId} has no valid time`);
    if (at > this.asOf) return;
    switch (event.type) {
      case 'CreditsPurchased': {
        const d = event.data;
        const lots = this.lotsOf(d.accountId);
        if (lots.has(d.purchaseId)) throw new InconsistentHistoryError(`Lot ${d.purchaseId} of ${d.accountId} is purchased twice`);
        if (d.paid && (d.amountMinor === undefined || d.currency === undefined)) {
          throw new InconsistentHistoryError(`Paid lot ${d.purchaseId} of ${d.accountId} has no amount or currency`);
        }
        lots.set(d.purchaseId, {
          accountId: d.accountId,
          purchaseId: d.purchaseId,
          creditType: d.creditType,
          credits: d.credits,
          paid: d.paid,
          purchasedAt: d.purchasedAt,
          expiresAt: instantOf(d.expiresAt),
          amountMinor: d.amountMinor ?? 0,
          currency: d.currency ?? '',
          invoiceId: d.invoiceId,
          remaining: d.credits,
          expiryRecorded: false,
        });
        return;
      }
      case 'CompanyRevealed':
      case 'RecordsReturned':
      case 'WebhookDispatched':
        this.spend(event.data.accountId, event.data.creditType, event.data.allocations, at, event.type);
        return;
      case 'CreditsExpired': {
        const d = event.data;
        const lot = this.lotsOf(d.accountId).get(d.purchaseId);
        // Nothing is spent from a lot after its expiry, so what it holds now is what expired.
        if (!lot || lot.remaining !== d.credits || at < lot.expiresAt || lot.expiryRecorded) {
          throw new InconsistentHistoryError(
            `CreditsExpired of ${d.credits} from lot ${d.purchaseId} of ${d.accountId} does not match what the lot held at its expiry`,
          );
        }
        lot.expiryRecorded = true;
        return;
      }
      case 'PurchaseRefunded': {
        const d = event.data;
        const lot = this.lotsOf(d.accountId).get(d.purchaseId);
        if (!lot || lot.remaining !== d.credits) {
          throw new InconsistentHistoryError(`PurchaseRefunded of ${d.purchaseId} of ${d.accountId} does not match what its lot holds`);
        }
        // The money went back: the credits are neither owed (liability) nor broken (breakage).
        lot.remaining = 0;
        return;
      }
      case 'CreditsAdjusted': {
        const d = event.data;
        if (d.credits > 0) {
          // An admin's grant: unpaid, so never part of liability or breakage, but removals may draw on it.
          this.lotsOf(d.accountId).set(d.lotId!, {
            accountId: d.accountId,
            purchaseId: d.lotId!,
            creditType: d.creditType,
            credits: d.credits,
            paid: false,
            purchasedAt: d.adjustedAt,
            expiresAt: instantOf(d.expiresAt!),
            amountMinor: 0,
            currency: '',
            invoiceId: undefined,
            remaining: d.credits,
            expiryRecorded: false,
          });
        } else {
          this.spend(d.accountId, d.creditType, d.allocations ?? [], at, event.type);
        }
        return;
      }
      case 'RevealServedFree':
      case 'WebhookNotTriggered':
      case 'AutoRechargeRuleSet':
      case 'AutoRechargeRuleRemoved':
      case 'AutoRechargeRequested':
      case 'AutoRechargeFailed':
      case 'BalanceAlertRulesSet':
      case 'BalanceAlertRaised':
        return;
      default:
        assertNever(event);
    }
  }

  /** Every lot followed so far, for a fold of other accounts to take in (`absorb`). */
  heldLots(): FinanceLot[] {
    const held: FinanceLot[] = [];
    for (const lots of this.accounts.values()) for (const lot of lots.values()) held.push(lot);
    return held;
  }

  /**
   * Takes in the lots of a fold over other accounts at the same instant (a shard of the ledger folded in
   * another thread): each account's lots come from one fold only, since a lot's state needs all of its
   * account's events.
   */
  absorb(lots: readonly FinanceLot[]): void {
    const from = new Set<string>();
    for (const lot of lots) {
      if (!from.has(lot.accountId) && this.accounts.has(lot.accountId)) {
        throw new Error(`Account ${lot.accountId} was folded twice: its lots cannot be merged`);
      }
      from.add(lot.accountId);
      this.lotsOf(lot.accountId).set(lot.purchaseId, { ...lot });
    }
  }

  /** Paid credits outstanding at `asOf`: in lots unexpired then (a lot expiring exactly at `asOf` is not). */
  liability(): LiabilityReport {
    const lines = this.paidLots((lot) => lot.expiresAt > this.asOf).map((lot) => this.line(lot));
    return { asOf: iso(this.asOf), lots: lines, totals: totalsOf(lines) };
  }

  /** Paid credits that expired unspent at or before `asOf`, whether or not `CreditsExpired` was recorded yet. */
  breakage(): BreakageReport {
    const lines = this.paidLots((lot) => lot.expiresAt <= this.asOf).map((lot) => ({
      ...this.line(lot),
      expiryRecorded: lot.expiryRecorded,
    }));
    return { asOf: iso(this.asOf), lots: lines, totals: totalsOf(lines) };
  }

  private paidLots(keep: (lot: FinanceLot) => boolean): FinanceLot[] {
    const out: FinanceLot[] = [];
    for (const lots of this.accounts.values()) {
      for (const lot of lots.values()) if (lot.paid && lot.remaining > 0 && keep(lot)) out.push(lot);
    }
    return out.sort(
      (a, b) =>
        compareStrings(a.accountId, b.accountId) ||
        compareStrings(a.purchasedAt, b.purchasedAt) ||
        compareStrings(a.purchaseId, b.purchaseId),
    );
  }

  private line(lot: FinanceLot): FinanceLotLine {
    return {
      accountId: lot.accountId,
      purchaseId: lot.purchaseId,
      creditType: lot.creditType,
      credits: lot.credits,
      remaining: lot.remaining,
      purchasedAt: lot.purchasedAt,
      expiresAt: iso(lot.expiresAt),
      amountMinor: lot.amountMinor,
      currency: lot.currency,
      invoiceId: lot.invoiceId ?? null,
      remainingValueMinor: proratedValueMinor(lot.amountMinor, lot.remaining, lot.credits),
    };
  }

  private lotsOf(accountId: string): Map<string, FinanceLot> {
    let lots = this.accounts.get(accountId);
    if (!lots) {
      lots = new Map();
      this.accounts.set(accountId, lots);
    }
    return lots;
  }

  private spend(
    accountId: string,
    creditType: CreditType,
    allocations: readonly Allocation[],
    at: Instant,
    type: CreditAccountEventType,
  ): void {
    const lots = this.lotsOf(accountId);
    for (const { purchaseId, credits } of allocations) {
      const lot = lots.get(purchaseId);
      if (!lot || lot.creditType !== creditType || lot.remaining < credits || !(lot.expiresAt > at)) {
        throw new InconsistentHistoryError(
          `${type} of ${accountId} takes ${credits} ${creditType} credits from lot ${purchaseId}, which cannot pay them`,
        );
      }
      lot.remaining -= credits;
    }
  }
}

/** Sums in bigints, so that no total is ever rounded by floating point; a sum past 2^53 is refused, not approximated. */
function totalsOf(lines: readonly FinanceLotLine[]): FinanceTotals {
  const byCurrency = new Map<string, { lots: number; value: bigint }>();
  const byType = new Map<string, { currency: string; creditType: CreditType; lots: number; remaining: bigint; value: bigint }>();
  for (const line of lines) {
    const currency = byCurrency.get(line.currency) ?? { lots: 0, value: 0n };
    currency.lots += 1;
    currency.value += BigInt(line.remainingValueMinor);
    byCurrency.set(line.currency, currency);
    const key = `${line.currency}/${line.creditType}`;
    const typed = byType.get(key) ?? { currency: line.currency, creditType: line.creditType, lots: 0, remaining: 0n, value: 0n };
    typed.lots += 1;
    typed.remaining += BigInt(line.remaining);
    typed.value += BigInt(line.remainingValueMinor);
    byType.set(key, typed);
  }
  return {
    byCurrency: [...byCurrency.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([currency, total]) => ({ currency, lots: total.lots, remainingValueMinor: exactNumber(total.value) })),
    byCurrencyAndCreditType: [...byType.values()]
      .sort((a, b) => compareStrings(a.currency, b.currency) || compareStrings(a.creditType, b.creditType))
      .map((total) => ({
        currency: total.currency,
        creditType: total.creditType,
        lots: total.lots,
        remaining: exactNumber(total.remaining),
        remainingValueMinor: exactNumber(total.value),
      })),
  };
}

function exactNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`A total of ${value} is too large to report exactly`);
  return Number(value);
}

/** Code-unit order, not the locale's: a report must sort the same on every machine. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
