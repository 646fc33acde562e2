import { purchasedLot, type LotDoc } from './balances.projection.js';
import type { ProjectedEvent, Projection } from './projection.js';

/**
 * One lot of an account's purchase history: a purchase, or an admin's grant. Key:
 * `<accountId>|<purchaseId>`. Written when the lot is made and when it is refunded, never by a charge:
 * what is left of the lots still open is the balances read model's.
 */
export interface PurchaseDoc extends Omit<LotDoc, 'remaining' | 'expired'> {
  readonly accountId: string;
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
  // Only the events `keysOf` names reach it: a purchase or a grant makes the lot, a refund marks it.
  evolve(doc, { event, accountId, position }: ProjectedEvent) {
    if (event.type === 'CreditsPurchased') {
      const { remaining: _remaining, expired: _expired, ...lot } = purchasedLot(event.data);
      return { accountId, ...lot, position: position.toString() };
    }
    if (event.type === 'CreditsAdjusted' && event.data.credits > 0) {
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
    if (event.type === 'PurchaseRefunded') return doc && { ...doc, refunded: true };
    return doc;
  },
};
