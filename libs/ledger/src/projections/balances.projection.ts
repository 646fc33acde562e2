import { assertNever, type CreditType, type LotSource } from '#domain';
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
 * An account's lots (its purchase history) and what is left of each. Key: the account id. Indexed by the
 * next instant an expiry is due (the soonest expiry of a lot with credits left), so the expiry sweep reads
 * only the accounts with something to record.
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
  version: 3,
  keysOf: (e) => [e.accountId],
  copy: (doc) => ({ ...doc, lots: doc.lots.map((lot) => ({ ...lot })) }),
  indexOf: nextExpiryDue,
  evolveInPlace(doc, { event, accountId }: ProjectedEvent) {
    const current = (doc ?? { accountId, lots: [] }) as MutableBalance;
    switch (event.type) {
      case 'CreditsPurchased': {
        const d = event.data;
        const lot: LotDoc = {
          purchaseId: d.purchaseId,
          creditType: d.creditType,
          credits: d.credits,
          remaining: d.credits,
          expired: 0,
          paid: d.paid,
          source: d.source,
          purchasedAt: d.purchasedAt,
          expiresAt: d.expiresAt,
          ...(d.amountMinor !== undefined ? { amountMinor: d.amountMinor } : {}),
          ...(d.currency !== undefined ? { currency: d.currency } : {}),
          ...(d.invoiceId !== undefined ? { invoiceId: d.invoiceId } : {}),
        };
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
        return current;
      case 'PurchaseRefunded':
        for (const lot of lotsOf(current, event.data.purchaseId)) {
          lot.remaining = 0;
          lot.refunded = true;
        }
        return current;
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
  for (const { purchaseId, credits } of allocations) {
    for (const lot of doc.lots) if (lot.purchaseId === purchaseId) lot.remaining -= credits;
  }
  return doc;
}

/** Every lot of the purchase (there is one; a duplicate in the log would get the same treatment). */
function* lotsOf(doc: MutableBalance, purchaseId: string): Generator<Mutable<LotDoc>> {
  for (const lot of doc.lots) if (lot.purchaseId === purchaseId) yield lot;
}
