import { assertNever, type CreditsPurchased, type CreditType, type LotSource } from '#domain';
import { inPlaceProjection, type ProjectedEvent, type Projection } from './projection.js';

export interface LotDoc {
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly remaining: number;
  readonly expired: number;
  readonly paid: boolean;
  readonly source: LotSource;
  readonly purchasedAt: string;
  readonly expiresAt: string;
  readonly amountMinor?: number;
  readonly currency?: string;
  readonly invoiceId?: string;
  /** The purchase was refunded (rule 11): nothing left, and not spendable. */
  readonly refunded?: boolean;
  /** For an admin's grant. */
  readonly reason?: string;
}

/**
 * An account's open lots, those with credits left, and what is left of each. Key: the account id. Indexed
 * by the next instant an expiry is due (the soonest expiry of a lot with credits left), so the expiry sweep
 * reads only the accounts with something to record.
 *
 * A lot leaves the document when nothing is left of it (spent, its expiry recorded, refunded): every charge
 * rewrites the document, so it must not grow with the account's history. The purchase history is the
 * `purchases` read model's. Until version 4 every lot stayed: an account with 10,000 spent lots took
 * 22,604 charges a second against 47,635 without them (docs/benchmarks.md).
 */
export interface AccountBalanceDoc {
  readonly accountId: string;
  /** In purchase order. */
  readonly lots: readonly LotDoc[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableBalance = { accountId: string; lots: Mutable<LotDoc>[] };

export const balancesProjection: Projection<AccountBalanceDoc> = inPlaceProjection<AccountBalanceDoc>({
  name: 'balances',
  version: 4,
  keysOf: (e) => [e.accountId],
  copy: (doc) => ({ ...doc, lots: doc.lots.map((lot) => ({ ...lot })) }),
  indexOf: nextExpiryDue,
  evolveInPlace(doc, { event, accountId }: ProjectedEvent) {
    const current = (doc ?? { accountId, lots: [] }) as MutableBalance;
    switch (event.type) {
      case 'CreditsPurchased': {
        current.lots.push(purchasedLot(event.data));
        return current;
      }
      case 'CompanyRevealed':
      case 'RecordsReturned':
      case 'WebhookDispatched':
        return spend(current, event.data.allocations);
      case 'CreditsExpired':
        for (const lot of lotsOf(current, event.data.purchaseId)) {
          lot.remaining -= event.data.credits;
          lot.expired += event.data.credits;
        }
        return withoutClosedLots(current);
      case 'PurchaseRefunded':
        for (const lot of lotsOf(current, event.data.purchaseId)) {
          lot.remaining = 0;
          lot.refunded = true;
        }
        return withoutClosedLots(current);
      case 'CreditsAdjusted': {
        const d = event.data;
        if (d.credits < 0) return spend(current, d.allocations ?? []);
        current.lots.push({
          purchaseId: d.lotId!,
          creditType: d.creditType,
          credits: d.credits,
          remaining: d.credits,
          expired: 0,
          paid: false,
          source: 'adjustment',
          purchasedAt: d.adjustedAt,
          expiresAt: d.expiresAt!,
          reason: d.reason,
        });
        return current;
      }
      case 'RevealServedFree':
      case 'WebhookNotTriggered':
      case 'AutoRechargeRuleSet':
      case 'AutoRechargeRuleRemoved':
      case 'AutoRechargeRequested':
      case 'AutoRechargeFailed':
      case 'BalanceAlertRulesSet':
      case 'BalanceAlertRaised':
        return current;
      default:
        return assertNever(event);
    }
  },
});

/**
 * The lot a purchase makes, whole (as the balances show it, and the purchase history without what is
 * left). Built as one literal with its optional fields added after, never by spreading one object into
 * another: a lot spread into a new literal (`{ ...lot, remaining }`) got a map of its own in V8, each read
 * of a lot's field in a balance of many lots then went the slow way, and folding a charge into a balance
 * of 10,000 open lots took 20 times as long (docs/benchmarks.md).
 */
export function purchasedLot(d: CreditsPurchased['data']): LotDoc {
  const lot: Mutable<LotDoc> = {
    purchaseId: d.purchaseId,
    creditType: d.creditType,
    credits: d.credits,
    remaining: d.credits,
    expired: 0,
    paid: d.paid,
    source: d.source,
    purchasedAt: d.purchasedAt,
    expiresAt: d.expiresAt,
  };
  if (d.amountMinor !== undefined) lot.amountMinor = d.amountMinor;
  if (d.currency !== undefined) lot.currency = d.currency;
  if (d.invoiceId !== undefined) lot.invoiceId = d.invoiceId;
  return lot;
}

/** When the soonest expiry of a lot with credits left falls (ms), if any lot has credits left. */
export function nextExpiryDue(doc: AccountBalanceDoc): number | undefined {
  let next: number | undefined;
  for (const lot of doc.lots) {
    if (lot.remaining <= 0) continue;
    const at = Date.parse(lot.expiresAt);
    if (next === undefined || at < next) next = at;
  }
  return next;
}

function spend(doc: MutableBalance, allocations: readonly { purchaseId: string; credits: number }[]): MutableBalance {
  let closed = false;
  for (const { purchaseId, credits } of allocations) {
    for (const lot of doc.lots) {
      if (lot.purchaseId !== purchaseId) continue;
      lot.remaining -= credits;
      closed ||= lot.remaining <= 0;
    }
  }
  return closed ? withoutClosedLots(doc) : doc;
}

/** The document without the lots nothing is left of. */
function withoutClosedLots(doc: MutableBalance): MutableBalance {
  doc.lots = doc.lots.filter((lot) => lot.remaining > 0);
  return doc;
}

/** Every lot of the purchase (there is one; a duplicate in the log would get the same treatment). */
function* lotsOf(doc: MutableBalance, purchaseId: string): Generator<Mutable<LotDoc>> {
  for (const lot of doc.lots) if (lot.purchaseId === purchaseId) yield lot;
}
