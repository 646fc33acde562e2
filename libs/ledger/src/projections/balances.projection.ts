import { assertNever, type CreditType, type LotSource } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';

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

/** An account's lots (its purchase history) and what is left of each. Key: the account id. */
export interface AccountBalanceDoc {
  readonly accountId: string;
  /** In purchase order. */
  readonly lots: readonly LotDoc[];
}

export const balancesProjection: Projection<AccountBalanceDoc> = {
  name: 'balances',
  version: 1,
  keysOf: (e) => [e.accountId],
  evolve(doc, { event, accountId }: ProjectedEvent) {
    const current: AccountBalanceDoc = doc ?? { accountId, lots: [] };
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
        return { ...current, lots: [...current.lots, lot] };
      }
      case 'CompanyRevealed':
      case 'RecordsReturned':
      case 'WebhookDispatched':
        return spend(current, event.data.allocations);
      case 'CreditsExpired':
        return withLot(current, event.data.purchaseId, (lot) => ({
          ...lot,
          remaining: lot.remaining - event.data.credits,
          expired: lot.expired + event.data.credits,
        }));
      case 'PurchaseRefunded':
        return withLot(current, event.data.purchaseId, (lot) => ({ ...lot, remaining: 0, refunded: true }));
      case 'CreditsAdjusted': {
        const d = event.data;
        if (d.credits < 0) return spend(current, d.allocations ?? []);
        const lot: LotDoc = {
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
        };
        return { ...current, lots: [...current.lots, lot] };
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
};

function spend(doc: AccountBalanceDoc, allocations: readonly { purchaseId: string; credits: number }[]): AccountBalanceDoc {
  return allocations.reduce(
    (acc, { purchaseId, credits }) => withLot(acc, purchaseId, (lot) => ({ ...lot, remaining: lot.remaining - credits })),
    doc,
  );
}

function withLot(doc: AccountBalanceDoc, purchaseId: string, change: (lot: LotDoc) => LotDoc): AccountBalanceDoc {
  return { ...doc, lots: doc.lots.map((lot) => (lot.purchaseId === purchaseId ? change(lot) : lot)) };
}
