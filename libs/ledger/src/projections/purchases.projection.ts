import { assertNever, type CreditType, type LotSource } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';

/**
 * One lot of an account's purchase history: a purchase, or an admin's grant. Key:
 * `<accountId>|<purchaseId>`. Written when the lot is made and when it is refunded, never by a charge:
 * what is left of the lots still open is the balances read model's.
 */
export interface PurchaseDoc {
  readonly accountId: string;
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly paid: boolean;
  readonly source: LotSource;
  readonly purchasedAt: string;
  readonly expiresAt: string;
  readonly amountMinor?: number;
  readonly currency?: string;
  readonly invoiceId?: string;
  /** For an admin's grant. */
  readonly reason?: string;
  /** The purchase was refunded (rule 11). */
  readonly refunded?: boolean;
  /** The global position of the event that made the lot: the history's order. */
  readonly position: string;
}

export function purchaseKey(accountId: string, purchaseId: string): string {
  return `${accountId}|${purchaseId}`;
}

/** Every key of an account's purchases sorts from this (inclusive) to `purchasesEnd` (exclusive). */
export function purchasesStart(accountId: string): string {
  return `${accountId}|`;
}

export function purchasesEnd(accountId: string): string {
  // '}' follows '|', which no account id holds.
  return `${accountId}}`;
}

export const purchasesProjection: Projection<PurchaseDoc> = {
  name: 'purchases',
  version: 1,
  keysOf: ({ event, accountId }: ProjectedEvent) => {
    switch (event.type) {
      case 'CreditsPurchased':
      case 'PurchaseRefunded':
        return [purchaseKey(accountId, event.data.purchaseId)];
      case 'CreditsAdjusted':
        return event.data.credits > 0 ? [purchaseKey(accountId, event.data.lotId!)] : [];
      default:
        return [];
    }
  },
  evolve(doc, { event, accountId, position }: ProjectedEvent) {
    switch (event.type) {
      case 'CreditsPurchased': {
        const d = event.data;
        return {
          accountId,
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
          position: position.toString(),
        };
      }
      case 'CreditsAdjusted': {
        const d = event.data;
        return {
          accountId,
          purchaseId: d.lotId!,
          creditType: d.creditType,
          credits: d.credits,
          paid: false,
          source: 'adjustment',
          purchasedAt: d.adjustedAt,
          expiresAt: d.expiresAt!,
          reason: d.reason,
          position: position.toString(),
        };
      }
      case 'PurchaseRefunded':
        return doc && { ...doc, refunded: true };
      case 'CompanyRevealed':
      case 'RecordsReturned':
      case 'WebhookDispatched':
      case 'CreditsExpired':
      case 'RevealServedFree':
      case 'WebhookNotTriggered':
      case 'AutoRechargeRuleSet':
      case 'AutoRechargeRuleRemoved':
      case 'AutoRechargeRequested':
      case 'AutoRechargeFailed':
      case 'BalanceAlertRulesSet':
      case 'BalanceAlertRaised':
        return doc;
      default:
        return assertNever(event);
    }
  },
};
