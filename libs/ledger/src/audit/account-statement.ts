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
 * An account statement for a period (rule 13): the opening balances, every movement of credits with the
 * balance it left, and the closing balances.
 *
 * The balances are those the balance route gives "as of" an instant (rule 3): everything that happened
 * up to and including the instant, counting only lots unexpired at it. So the opening is the balance as
 * of `from`, the closing the balance as of `to`, and the movements are what happened after `from` up to
 * and including `to`; for each credit type, opening + Σ movements = closing.
 *
 * A lot stops counting at its expiry instant whether or not the ledger has recorded `CreditsExpired`
 * yet: the ledger records it only when the account is next active, possibly long after (or never). The
 * statement therefore shows an `expiry` movement at the expiry instant for every lot that still held
 * credits then, and ties it to the `CreditsExpired` event when the stream holds one (never counting
 * the credits twice).
 */
export interface StatementPeriod {
  readonly from: Instant;
  readonly to: Instant;
}

export interface StatementBalances {
  readonly api: number;
  readonly company: number;
}

export type MovementType = 'purchase' | 'charge' | 'expiry' | 'refund' | 'adjustment';

export interface StatementAllocation {
  readonly purchaseId: string;
  readonly credits: number;
  readonly invoiceId?: string;
}

export interface StatementMovement {
  readonly occurredAt: string;
  readonly type: MovementType;
  /**
   * The stored event behind the movement, with its stream revision. Null for an expiry the ledger had
   * not recorded: the credits stopped counting at the expiry instant all the same.
   */
  event: CreditAccountEventType | null;
  revision: string | null;
  readonly creditType: CreditType;
  /** Signed: + for a purchase, − for a charge or an expiry. */
  readonly credits: number;
  /** The balance of `creditType` right after the movement. */
  readonly balanceAfter: number;
  readonly purchaseId?: string;
  readonly invoiceId?: string;
  readonly requestId?: string;
  readonly webhookEventId?: string;
  readonly companyId?: string;
  readonly adjustmentId?: string;
  readonly reason?: string;
  readonly allocations?: readonly StatementAllocation[];
}

export interface AccountStatement {
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly opening: StatementBalances;
  readonly movements: readonly StatementMovement[];
  readonly closing: StatementBalances;
}

/** One event of the account's stream, in stream order; the revision links a movement to its event. */
export interface StatementInput {
  readonly event: CreditAccountEvent;
  readonly revision?: bigint;
}

interface StatementLot {
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly expiresAt: Instant;
  readonly invoiceId: string | undefined;
  remaining: number;
  /** Set once the lot's expiry instant has passed in the fold: what was left then. */
  expiredCredits: number | undefined;
  /** The statement's expiry movement for this lot, if the expiry fell inside the period. */
  expiryMovement: StatementMovement | undefined;
}

/**
 * The statement as a streaming fold: `add` the account's events in stream order (which is time order),
 * then `finish`. It holds one entry per lot, never the events. An event after `to` is ignored, so a
 * caller may stop reading at the first one.
 */
export class AccountStatementFold {
  private readonly lots = new Map<string, StatementLot>();
  /** Lots not yet expired in the fold, soonest expiry first (ties by purchase id, for a stable order). */
  private readonly pendingExpiries: StatementLot[] = [];
  private readonly balances: Record<CreditType, number> = { api: 0, company: 0 };
  private readonly movements: StatementMovement[] = [];
  private opening: StatementBalances | undefined;
  private latest: Instant | undefined;
  private finished = false;

  constructor(
    private readonly accountId: string,
    private readonly period: StatementPeriod,
  ) {
    if (!(period.from <= period.to)) throw new RangeError('A statement period needs from <= to');
  }

  add({ event, revision }: StatementInput): void {
    if (this.finished) throw new Error('AccountStatementFold: add after finish');
    const at = instantOf(occurredAtOf(event));
    if (Number.isNaN(at)) throw new InconsistentHistoryError(`${event.type} has no valid time`);
    if (this.latest !== undefined && at < this.latest) {
      throw new InconsistentHistoryError(`${event.type} at ${iso(at)} is before the account's previous event (${iso(this.latest)})`);
    }
    if (at > this.period.to) return;
    this.latest = at;
    if (at > this.period.from) this.takeOpening();
    this.expireUntil(at);
    this.apply(event, at, revision);
  }

  finish(): AccountStatement {
    if (!this.finished) {
      this.finished = true;
      this.takeOpening();
      this.expireUntil(this.period.to);
    }
    return {
      accountId: this.accountId,
      from: iso(this.period.from),
      to: iso(this.period.to),
      opening: this.opening!,
      movements: this.movements,
      closing: { api: this.balances.api, company: this.balances.company },
    };
  }

  /** The opening is the balance as of `from`: every lot whose expiry is at or before `from` is gone. */
  private takeOpening(): void {
    if (this.opening) return;
    this.expireUntil(this.period.from);
    this.opening = { api: this.balances.api, company: this.balances.company };
  }

  private inPeriod(at: Instant): boolean {
    return at > this.period.from && at <= this.period.to;
  }

  /** A lot is spendable strictly before its expiry instant (rule 3), so at `at` every lot expiring by then is gone. */
  private expireUntil(at: Instant): void {
    while (this.pendingExpiries.length > 0 && this.pendingExpiries[0]!.expiresAt <= at) {
      const lot = this.pendingExpiries.shift()!;
      lot.expiredCredits = lot.remaining;
      if (lot.remaining === 0) continue;
      this.balances[lot.creditType] -= lot.remaining;
      lot.remaining = 0;
      if (!this.inPeriod(lot.expiresAt)) continue;
      const movement: StatementMovement = {
        occurredAt: iso(lot.expiresAt),
        type: 'expiry',
        event: null,
        revision: null,
        creditType: lot.creditType,
        credits: -lot.expiredCredits,
        balanceAfter: this.balances[lot.creditType],
        purchaseId: lot.purchaseId,
        ...(lot.invoiceId !== undefined ? { invoiceId: lot.invoiceId } : {}),
      };
      lot.expiryMovement = movement;
      this.movements.push(movement);
    }
  }

  private apply(event: CreditAccountEvent, at: Instant, revision: bigint | undefined): void {
    const recorded = { event: event.type, revision: revision === undefined ? null : String(revision) };
    switch (event.type) {
      case 'CreditsPurchased': {
        const d = event.data;
        if (this.lots.has(d.purchaseId)) throw new InconsistentHistoryError(`Lot ${d.purchaseId} is purchased twice`);
        const expiresAt = instantOf(d.expiresAt);
        if (!(expiresAt > at)) throw new InconsistentHistoryError(`Lot ${d.purchaseId} expires before it is purchased`);
        const lot: StatementLot = {
          purchaseId: d.purchaseId,
          creditType: d.creditType,
          expiresAt,
          invoiceId: d.invoiceId,
          remaining: d.credits,
          expiredCredits: undefined,
          expiryMovement: undefined,
        };
        this.lots.set(lot.purchaseId, lot);
        this.queueExpiry(lot);
        this.balances[d.creditType] += d.credits;
        if (this.inPeriod(at)) {
          this.movements.push({
            occurredAt: d.purchasedAt,
            type: 'purchase',
            ...recorded,
            creditType: d.creditType,
            credits: d.credits,
            balanceAfter: this.balances[d.creditType],
            purchaseId: d.purchaseId,
            ...(d.invoiceId !== undefined ? { invoiceId: d.invoiceId } : {}),
          });
        }
        return;
      }
      case 'CompanyRevealed':
      case 'RecordsReturned':
      case 'WebhookDispatched': {
        const d = event.data;
        const allocations = this.spend(d.creditType, d.credits, d.allocations, event.type);
        if (this.inPeriod(at)) {
          this.movements.push({
            occurredAt: occurredAtOf(event),
            type: 'charge',
            ...recorded,
            creditType: d.creditType,
            credits: -d.credits,
            balanceAfter: this.balances[d.creditType],
            ...('requestId' in d ? { requestId: d.requestId } : {}),
            ...('webhookEventId' in d ? { webhookEventId: d.webhookEventId } : {}),
            ...('companyId' in d ? { companyId: d.companyId } : {}),
            allocations,
          });
        }
        return;
      }
      case 'CreditsExpired': {
        const d = event.data;
        const lot = this.lots.get(d.purchaseId);
        // The fold expired the lot when time reached its expiry instant; the event only confirms it.
        if (!lot || lot.expiredCredits === undefined || lot.expiredCredits !== d.credits) {
          throw new InconsistentHistoryError(
            `CreditsExpired of ${d.credits} from lot ${d.purchaseId} at ${d.expiredAt} does not match what the lot held at its expiry`,
          );
        }
        if (lot.expiryMovement) {
          lot.expiryMovement.event = recorded.event;
          lot.expiryMovement.revision = recorded.revision;
        }
        return;
      }
      case 'PurchaseRefunded': {
        const d = event.data;
        const lot = this.lots.get(d.purchaseId);
        if (!lot || lot.expiredCredits !== undefined || lot.remaining !== d.credits) {
          throw new InconsistentHistoryError(`PurchaseRefunded of ${d.purchaseId} does not match what its lot holds`);
        }
        lot.remaining = 0;
        this.balances[d.creditType] -= d.credits;
        if (this.inPeriod(at)) {
          this.movements.push({
            occurredAt: d.refundedAt,
            type: 'refund',
            ...recorded,
            creditType: d.creditType,
            credits: -d.credits,
            balanceAfter: this.balances[d.creditType],
            purchaseId: d.purchaseId,
            ...(d.invoiceId !== undefined ? { invoiceId: d.invoiceId } : {}),
            ...(d.reason !== undefined ? { reason: d.reason } : {}),
          });
        }
        return;
      }
      case 'CreditsAdjusted': {
        const d = event.data;
        let allocations: StatementAllocation[] | undefined;
        if (d.credits > 0) {
          const lot: StatementLot = {
            purchaseId: d.lotId!,
            creditType: d.creditType,
            expiresAt: instantOf(d.expiresAt!),
            invoiceId: undefined,
            remaining: d.credits,
            expiredCredits: undefined,
            expiryMovement: undefined,
          };
          this.lots.set(lot.purchaseId, lot);
          this.queueExpiry(lot);
          this.balances[d.creditType] += d.credits;
        } else {
          allocations = this.spend(d.creditType, -d.credits, d.allocations ?? [], event.type);
        }
        if (this.inPeriod(at)) {
          this.movements.push({
            occurredAt: d.adjustedAt,
            type: 'adjustment',
            ...recorded,
            creditType: d.creditType,
            credits: d.credits,
            balanceAfter: this.balances[d.creditType],
            adjustmentId: d.adjustmentId,
            reason: d.reason,
            ...(d.lotId !== undefined ? { purchaseId: d.lotId } : {}),
            ...(allocations ? { allocations } : {}),
          });
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
        // Requests and rules that moved no credits: not movements (a recharge arrives as a purchase).
        return;
      default:
        assertNever(event);
    }
  }

  private spend(
    creditType: CreditType,
    credits: number,
    allocations: readonly Allocation[],
    type: CreditAccountEventType,
  ): StatementAllocation[] {
    let total = 0;
    const traced: StatementAllocation[] = [];
    for (const allocation of allocations) {
      const lot = this.lots.get(allocation.purchaseId);
      if (!lot || lot.creditType !== creditType || lot.expiredCredits !== undefined || lot.remaining < allocation.credits) {
        throw new InconsistentHistoryError(
          `${type} takes ${allocation.credits} ${creditType} credits from lot ${allocation.purchaseId}, which cannot pay them`,
        );
      }
      lot.remaining -= allocation.credits;
      total += allocation.credits;
      traced.push({
        purchaseId: allocation.purchaseId,
        credits: allocation.credits,
        ...(lot.invoiceId !== undefined ? { invoiceId: lot.invoiceId } : {}),
      });
    }
    if (total !== credits) {
      throw new InconsistentHistoryError(`${type} charges ${credits} credits but its allocations add up to ${total}`);
    }
    this.balances[creditType] -= credits;
    return traced;
  }

  private queueExpiry(lot: StatementLot): void {
    const queue = this.pendingExpiries;
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = queue[mid]!;
      const before = other.expiresAt < lot.expiresAt || (other.expiresAt === lot.expiresAt && other.purchaseId < lot.purchaseId);
      if (before) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, lot);
  }
}

/** The statement of a whole history at once; the route streams the same fold. */
export function accountStatement(
  accountId: string,
  period: StatementPeriod,
  events: Iterable<StatementInput | CreditAccountEvent>,
): AccountStatement {
  const fold = new AccountStatementFold(accountId, period);
  for (const input of events) fold.add('event' in input ? input : { event: input });
  return fold.finish();
}
