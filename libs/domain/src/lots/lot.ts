import { addCalendarMonths, type Instant } from '../shared/time.js';

export const CREDIT_TYPES = ['api', 'company'] as const;
export type CreditType = (typeof CREDIT_TYPES)[number];

export const PAID_SOURCES = ['purchase', 'subscription', 'auto_recharge'] as const;
export const UNPAID_SOURCES = ['trial', 'grant'] as const;
/** The sources a purchase or grant may name. */
export const LOT_SOURCES = [...PAID_SOURCES, ...UNPAID_SOURCES] as const;
export type PurchaseSource = (typeof LOT_SOURCES)[number];
/** Lots also come from an admin's adjustment. */
export type LotSource = PurchaseSource | 'adjustment';

/** Paid credits roll over for 12 calendar months after purchase (rule 3). */
export const PAID_LOT_LIFETIME_MONTHS = 12;

export function paidLotExpiry(purchasedAt: Instant): Instant {
  return addCalendarMonths(purchasedAt, PAID_LOT_LIFETIME_MONTHS);
}

/** The part of one lot that paid for (part of) a charge, so finance can trace credits to purchases. */
export interface Allocation {
  readonly purchaseId: string;
  readonly credits: number;
}

/** A purchase or grant of credits, and what is left of it. Mutable: the account state owns it. */
export interface Lot {
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly paid: boolean;
  readonly source: LotSource;
  readonly credits: number;
  readonly purchasedAt: Instant;
  readonly expiresAt: Instant;
  readonly invoiceId?: string;
  remaining: number;
  /** Credits recorded as expired (breakage) once the lot's expiry passed. */
  expired: number;
  /** The purchase was refunded: the lot is gone from the balance. */
  refunded: boolean;
}

/** A lot can be spent strictly before its expiry instant: at `expiresAt` it is already expired. */
export function isUsableAt(lot: Lot, at: Instant): boolean {
  return lot.remaining > 0 && lot.expiresAt > at;
}

/**
 * Spending order (rule 4): the lot that expires soonest first; ties go to unpaid before paid, then the
 * older purchase, then the purchase id.
 */
export function compareSpendingOrder(a: Lot, b: Lot): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  if (a.paid !== b.paid) return a.paid ? 1 : -1;
  if (a.purchasedAt !== b.purchasedAt) return a.purchasedAt - b.purchasedAt;
  return a.purchaseId < b.purchaseId ? -1 : a.purchaseId > b.purchaseId ? 1 : 0;
}

/** Inserts a lot keeping the list in spending order. */
export function insertInSpendingOrder(lots: Lot[], lot: Lot): void {
  let lo = 0;
  let hi = lots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareSpendingOrder(lots[mid]!, lot) <= 0) lo = mid + 1;
    else hi = mid;
  }
  lots.splice(lo, 0, lot);
}

export function availableAt(lots: readonly Lot[], at: Instant): number {
  let total = 0;
  for (const lot of lots) if (isUsableAt(lot, at)) total += lot.remaining;
  return total;
}

/**
 * Which lots pay for `credits` at instant `at`, in spending order. The caller has checked that enough
 * is available; allocations never take more than a lot's remainder.
 */
export function allocate(lots: readonly Lot[], credits: number, at: Instant): Allocation[] {
  const allocations: Allocation[] = [];
  let left = credits;
  for (const lot of lots) {
    if (left === 0) break;
    if (!isUsableAt(lot, at)) continue;
    const take = Math.min(lot.remaining, left);
    allocations.push({ purchaseId: lot.purchaseId, credits: take });
    left -= take;
  }
  if (left !== 0) throw new Error(`allocate: ${left} credits could not be allocated (caller must check availability)`);
  return allocations;
}
