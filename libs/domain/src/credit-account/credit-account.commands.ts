import type { CreditType, PurchaseSource } from '../lots/lot.js';
import type { RecordEndpoint, WebhookRecordType } from '../pricing/price-table.js';
import type { Instant } from '../shared/time.js';
import type { RevealAction } from './credit-account.events.js';

/**
 * Commands carry everything a decision needs, including the time it happens at, so a decision can be
 * taken again (after a concurrency conflict) with the same outcome.
 */
export type CreditAccountCommand =
  | PurchaseCredits
  | RevealCompanies
  | ChargeRecords
  | DispatchWebhook
  | SweepExpiries
  | RefundPurchase
  | AdjustCredits
  | SetAutoRechargeRule
  | RemoveAutoRechargeRule
  | FailAutoRecharge
  | SetBalanceAlerts;

interface CommandBase {
  readonly accountId: string;
  readonly occurredAt: Instant;
}

export interface PurchaseCredits extends CommandBase {
  readonly type: 'PurchaseCredits';
  readonly purchaseId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly paid: boolean;
  /** Defaults to `purchase` for paid lots and `grant` for unpaid ones. */
  readonly source?: PurchaseSource;
  readonly amountMinor?: number;
  readonly currency?: string;
  readonly invoiceId?: string;
  /** Required for unpaid lots; paid lots always expire 12 calendar months after purchase. */
  readonly expiresAt?: Instant;
  readonly autoRechargeId?: string;
}

export interface RevealCompanies extends CommandBase {
  readonly type: 'RevealCompanies';
  readonly requestId: string;
  readonly companyIds: readonly string[];
  readonly action: RevealAction;
  readonly allowPartial: boolean;
  readonly userId?: string;
}

export interface ChargeRecords extends CommandBase {
  readonly type: 'ChargeRecords';
  readonly requestId: string;
  readonly endpoint: RecordEndpoint;
  readonly records: number;
  readonly allowPartial: boolean;
  readonly apiKeyId?: string;
  readonly userId?: string;
}

export interface DispatchWebhook extends CommandBase {
  readonly type: 'DispatchWebhook';
  readonly webhookEventId: string;
  readonly webhookId: string;
  readonly recordType: WebhookRecordType;
}

/**
 * Records the remainder of every lot whose expiry has passed (rule 3), at each one's expiry instant. It
 * needs no idempotency key: once recorded, nothing is due, so running it twice (or on two instances at
 * once: the stream's expected revision settles the race) records each expiry exactly once.
 */
export interface SweepExpiries extends CommandBase {
  readonly type: 'SweepExpiries';
}

/** Rule 11: a paid purchase none of whose credits were used, within 90 days, may be refunded. */
export interface RefundPurchase extends CommandBase {
  readonly type: 'RefundPurchase';
  readonly purchaseId: string;
  readonly reason?: string;
  /** Who refunds it (the admin), recorded in the event. */
  readonly refundedBy: string;
}

/**
 * An admin's correction: positive credits are granted as a lot of their own, negative ones are taken
 * from the lots in spending order; never below zero. The reason and the admin are recorded.
 */
export interface AdjustCredits extends CommandBase {
  readonly type: 'AdjustCredits';
  readonly adjustmentId: string;
  readonly creditType: CreditType;
  /** Signed and never zero. */
  readonly credits: number;
  readonly reason: string;
  readonly adjustedBy: string;
  /** For a grant; by default, like paid credits, 12 calendar months later. */
  readonly expiresAt?: Instant;
}

/** Sets (or replaces) the auto-recharge rule of one credit type. Setting the same rule again changes nothing. */
export interface SetAutoRechargeRule extends CommandBase {
  readonly type: 'SetAutoRechargeRule';
  readonly creditType: CreditType;
  readonly threshold: number;
  readonly credits: number;
  readonly monthlyCap?: number;
  readonly enabled: boolean;
  readonly setBy: string;
}

export interface RemoveAutoRechargeRule extends CommandBase {
  readonly type: 'RemoveAutoRechargeRule';
  readonly creditType: CreditType;
  readonly removedBy: string;
}

/** The billing service reports that the payment for a request failed. */
export interface FailAutoRecharge extends CommandBase {
  readonly type: 'FailAutoRecharge';
  readonly autoRechargeId: string;
  readonly reason?: string;
}

/** Sets the balance alerts of one credit type; empty percents and no `availableBelow` turn them off. */
export interface SetBalanceAlerts extends CommandBase {
  readonly type: 'SetBalanceAlerts';
  readonly creditType: CreditType;
  readonly consumedPercents: readonly number[];
  readonly availableBelow?: number;
  readonly setBy: string;
}

/** The key under which a command's outcome is remembered; retries with the same key are not new. */
export function idempotencyKeyOf(command: CreditAccountCommand): string {
  switch (command.type) {
    case 'PurchaseCredits':
      return `purchase:${command.purchaseId}`;
    case 'RevealCompanies':
    case 'ChargeRecords':
      return `request:${command.requestId}`;
    case 'DispatchWebhook':
      return `webhook:${command.webhookEventId}`;
    case 'SweepExpiries':
      return 'expiry-sweep';
    case 'RefundPurchase':
      return `refund:${command.purchaseId}`;
    case 'AdjustCredits':
      return `adjustment:${command.adjustmentId}`;
    // A rule is state, not an event to count: setting it twice is harmless, so it needs no key.
    case 'SetAutoRechargeRule':
    case 'RemoveAutoRechargeRule':
      return `auto-recharge-rule:${command.creditType}`;
    case 'FailAutoRecharge':
      return `auto-recharge-failure:${command.autoRechargeId}`;
    case 'SetBalanceAlerts':
      return `balance-alerts:${command.creditType}`;
  }
}

/** A company named twice in one request counts once; the first mention keeps its place. */
export function distinctCompanies(companyIds: readonly string[]): string[] {
  return [...new Set(companyIds)];
}
