import type {
  ChargeRecords,
  DispatchWebhook,
  PurchaseCredits,
  RevealCompanies,
} from '../credit-account/credit-account.commands.js';
import { fingerprintOf } from '../credit-account/credit-account.decider.js';
import type { CreditsExpired, CreditsPurchased } from '../credit-account/credit-account.events.js';
import { paidLotExpiry, type CreditType } from '../lots/lot.js';
import { DAY_MS, instantOf, iso, type Instant } from '../shared/time.js';

/** Test data that reads as the situation: an account, instants written as ISO, commands with defaults. */
export const ACCOUNT = 'acme';

export function at(isoString: string): Instant {
  return instantOf(isoString);
}

export function daysBefore(instant: Instant, days: number): Instant {
  return instant - days * DAY_MS;
}

export function daysAfter(instant: Instant, days: number): Instant {
  return instant + days * DAY_MS;
}

type Defaults<C extends { type: string }, Required extends keyof C> = Pick<C, Required> &
  Partial<Omit<C, 'type' | Required>>;

/** A paid purchase (USD 10.00) unless `paid: false` is given; unpaid lots must name their expiry. */
export function purchaseCredits(fields: Defaults<PurchaseCredits, 'purchaseId' | 'credits' | 'occurredAt'>): PurchaseCredits {
  const paid = fields.paid ?? true;
  return {
    type: 'PurchaseCredits',
    accountId: ACCOUNT,
    creditType: 'api',
    paid,
    ...(paid ? { amountMinor: 1000, currency: 'USD' } : {}),
    ...fields,
  };
}

export function chargeRecords(fields: Defaults<ChargeRecords, 'requestId' | 'endpoint' | 'records' | 'occurredAt'>): ChargeRecords {
  return { type: 'ChargeRecords', accountId: ACCOUNT, allowPartial: false, ...fields };
}

export function revealCompanies(fields: Defaults<RevealCompanies, 'requestId' | 'companyIds' | 'occurredAt'>): RevealCompanies {
  return { type: 'RevealCompanies', accountId: ACCOUNT, action: 'reveal', allowPartial: false, ...fields };
}

export function dispatchWebhook(
  fields: Defaults<DispatchWebhook, 'webhookEventId' | 'recordType' | 'occurredAt'>,
): DispatchWebhook {
  return { type: 'DispatchWebhook', accountId: ACCOUNT, webhookId: 'wh-new-jobs', ...fields };
}

/**
 * The event a purchase writes, spelled out (not decided), so a given history does not depend on the
 * decider it tests. Its fingerprint is the purchase command's, as the decider would store it.
 */
export function creditsPurchased(command: PurchaseCredits): CreditsPurchased {
  const expiresAt = command.expiresAt ?? paidLotExpiry(command.occurredAt);
  return {
    type: 'CreditsPurchased',
    data: {
      accountId: command.accountId,
      purchaseId: command.purchaseId,
      creditType: command.creditType,
      credits: command.credits,
      paid: command.paid,
      source: command.source ?? (command.paid ? 'purchase' : 'grant'),
      ...(command.amountMinor !== undefined ? { amountMinor: command.amountMinor } : {}),
      ...(command.currency !== undefined ? { currency: command.currency } : {}),
      ...(command.invoiceId !== undefined ? { invoiceId: command.invoiceId } : {}),
      ...(command.autoRechargeId !== undefined ? { autoRechargeId: command.autoRechargeId } : {}),
      purchasedAt: iso(command.occurredAt),
      expiresAt: iso(expiresAt),
      fingerprint: fingerprintOf(command),
    },
  };
}

/** A paid lot bought at `purchasedAt` (it expires 12 calendar months later). */
export function paidLot(purchaseId: string, creditType: CreditType, credits: number, purchasedAt: Instant): CreditsPurchased {
  return creditsPurchased(purchaseCredits({ purchaseId, creditType, credits, occurredAt: purchasedAt }));
}

/** A grant (free credits) that states its own expiry. */
export function grantLot(
  purchaseId: string,
  creditType: CreditType,
  credits: number,
  purchasedAt: Instant,
  expiresAt: Instant,
): CreditsPurchased {
  return creditsPurchased(
    purchaseCredits({ purchaseId, creditType, credits, paid: false, occurredAt: purchasedAt, expiresAt }),
  );
}

export function creditsExpired(
  purchaseId: string,
  creditType: CreditType,
  credits: number,
  paid: boolean,
  expiredAt: Instant,
): CreditsExpired {
  return {
    type: 'CreditsExpired',
    data: { accountId: ACCOUNT, purchaseId, creditType, credits, paid, expiredAt: iso(expiredAt) },
  };
}
