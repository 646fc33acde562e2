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
        const lot: LotDoc = { ...purchasedLot(event.data), remaining: event.data.credits, expired: 0 };
        current.lots.push(lot);
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

/** What a purchase says of its lot, as the balances and the purchase history show it. */
export function purchasedLot(d: CreditsPurchased['data']): Omit<LotDoc, 'remaining' | 'expired'> {
  return {
    purchaseId: d.purchaseId,
    creditType: d.creditType,
    credits: d.credits,
    paid: d.paid,
    source: d.source,
    purchasedAt: d.purchasedAt,
    expiresAt: d.expiresAt,
    ...(d.amountMinor !== undefined ? { amountMinor: d.amountMinor } : {}),
    ...(d.currency !== undefined ? { currency: d.currency } : {}),
    ...(d.invoiceId !== undefined ? { invoiceId: d.invoiceId } : {}),
  };
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
