import type { Allocation, CreditType, LotSource } from '../lots/lot.js';
import type { RecordEndpoint, WebhookRecordType } from '../pricing/price-table.js';

/**
 * The events of one credit account's stream. Their `type` strings are stored forever: never rename
 * one; a change of meaning is a new event, a change of shape gets an upcaster. Times are ISO 8601 UTC.
 * `fingerprint` identifies the billable payload of the command behind the event, so that a retried
 * command can be told from a reused idempotency key, even after a replay.
 */
export type CreditAccountEvent =
  | CreditsPurchased
  | CompanyRevealed
  | RevealServedFree
  | RecordsReturned
  | WebhookDispatched
  | WebhookNotTriggered
  | CreditsExpired
  | PurchaseRefunded
  | CreditsAdjusted
  | AutoRechargeRuleSet
  | AutoRechargeRuleRemoved
  | AutoRechargeRequested
  | AutoRechargeFailed
  | BalanceAlertRulesSet
  | BalanceAlertRaised;

export type CreditAccountEventType = CreditAccountEvent['type'];

export const CREDIT_ACCOUNT_EVENT_TYPES: readonly CreditAccountEventType[] = [
  'CreditsPurchased',
  'CompanyRevealed',
  'RevealServedFree',
  'RecordsReturned',
  'WebhookDispatched',
  'WebhookNotTriggered',
  'CreditsExpired',
  'PurchaseRefunded',
  'CreditsAdjusted',
  'AutoRechargeRuleSet',
  'AutoRechargeRuleRemoved',
  'AutoRechargeRequested',
  'AutoRechargeFailed',
  'BalanceAlertRulesSet',
  'BalanceAlertRaised',
];

/** The current shape of every event; older shapes are upcast on read. */
export const CREDIT_ACCOUNT_SCHEMA_VERSION = 1;

export interface CreditsPurchased {
  readonly type: 'CreditsPurchased';
  readonly data: {
    readonly accountId: string;
    readonly purchaseId: string;
    readonly creditType: CreditType;
    readonly credits: number;
    readonly paid: boolean;
    readonly source: LotSource;
    readonly amountMinor?: number;
    readonly currency?: string;
    readonly invoiceId?: string;
    readonly autoRechargeId?: string;
    readonly purchasedAt: string;
    readonly expiresAt: string;
    readonly fingerprint: string;
  };
}

/** One company charged by a reveal or export request; it opens the company's 90-day window. */
export interface CompanyRevealed {
  readonly type: 'CompanyRevealed';
  readonly data: {
    readonly accountId: string;
    readonly requestId: string;
    readonly companyId: string;
    readonly action: RevealAction;
    readonly revealedAt: string;
    readonly windowEndsAt: string;
    readonly creditType: 'company';
    readonly credits: number;
    readonly allocations: readonly Allocation[];
    readonly userId?: string;
    readonly fingerprint: string;
  };
}

export type RevealAction = 'reveal' | 'export';

/**
 * A reveal or export request in which every company was inside an open window: nothing was charged,
 * but the request is remembered, so that its retry gets the same answer even after the windows closed.
 */
export interface RevealServedFree {
  readonly type: 'RevealServedFree';
  readonly data: {
    readonly accountId: string;
    readonly requestId: string;
    readonly action: RevealAction;
    readonly companies: readonly { readonly companyId: string; readonly windowEndsAt: string }[];
    readonly servedAt: string;
    readonly userId?: string;
    readonly fingerprint: string;
  };
}

/** Records returned by a data call and billed per record at the unit price then in force. */
export interface RecordsReturned {
  readonly type: 'RecordsReturned';
  readonly data: {
    readonly accountId: string;
    readonly requestId: string;
    readonly endpoint: RecordEndpoint;
    readonly recordsRequested: number;
    readonly recordsBilled: number;
    readonly unitPrice: number;
    readonly priceTable: string;
    readonly creditType: 'api';
    readonly credits: number;
    readonly allocations: readonly Allocation[];
    readonly apiKeyId?: string;
    readonly userId?: string;
    readonly chargedAt: string;
    readonly fingerprint: string;
  };
}

export interface WebhookDispatched {
  readonly type: 'WebhookDispatched';
  readonly data: {
    readonly accountId: string;
    readonly webhookEventId: string;
    readonly webhookId: string;
    readonly recordType: WebhookRecordType;
    readonly unitPrice: number;
    readonly priceTable: string;
    readonly creditType: 'api';
    readonly credits: number;
    readonly allocations: readonly Allocation[];
    readonly dispatchedAt: string;
    readonly fingerprint: string;
  };
}

/** A webhook event the balance could not pay for: not dispatched, nothing charged (rule 8). */
export interface WebhookNotTriggered {
  readonly type: 'WebhookNotTriggered';
  readonly data: {
    readonly accountId: string;
    readonly webhookEventId: string;
    readonly webhookId: string;
    readonly recordType: WebhookRecordType;
    readonly required: number;
    readonly available: number;
    readonly refusedAt: string;
    readonly fingerprint: string;
  };
}

/** The unspent remainder of a lot whose expiry passed: breakage, recorded at the expiry instant. */
export interface CreditsExpired {
  readonly type: 'CreditsExpired';
  readonly data: {
    readonly accountId: string;
    readonly purchaseId: string;
    readonly creditType: CreditType;
    readonly credits: number;
    readonly paid: boolean;
    readonly expiredAt: string;
  };
}

/** A paid purchase refunded before any of its credits were used: its lot leaves the balance (rule 11). */
export interface PurchaseRefunded {
  readonly type: 'PurchaseRefunded';
  readonly data: {
    readonly accountId: string;
    readonly purchaseId: string;
    readonly creditType: CreditType;
    readonly credits: number;
    readonly amountMinor?: number;
    readonly currency?: string;
    readonly invoiceId?: string;
    readonly reason?: string;
    readonly refundedBy: string;
    readonly refundedAt: string;
    readonly fingerprint: string;
  };
}

/**
 * An admin's correction. A grant (credits > 0) is a lot of its own, `lotId`; a removal (credits < 0)
 * names the lots it took from, like a charge.
 */
export interface CreditsAdjusted {
  readonly type: 'CreditsAdjusted';
  readonly data: {
    readonly accountId: string;
    readonly adjustmentId: string;
    readonly creditType: CreditType;
    readonly credits: number;
    readonly reason: string;
    readonly adjustedBy: string;
    readonly lotId?: string;
    readonly expiresAt?: string;
    readonly allocations?: readonly Allocation[];
    readonly adjustedAt: string;
    readonly fingerprint: string;
  };
}

/** The account's auto-recharge rule for one credit type (rule 10), replacing any earlier one. */
export interface AutoRechargeRuleSet {
  readonly type: 'AutoRechargeRuleSet';
  readonly data: {
    readonly accountId: string;
    readonly creditType: CreditType;
    /** A request is made when a charge leaves the balance below this. */
    readonly threshold: number;
    /** The pack the billing service buys. */
    readonly credits: number;
    /** At most this many requests per calendar month (UTC), when set. */
    readonly monthlyCap?: number;
    readonly enabled: boolean;
    readonly setBy: string;
    readonly setAt: string;
  };
}

export interface AutoRechargeRuleRemoved {
  readonly type: 'AutoRechargeRuleRemoved';
  readonly data: { readonly accountId: string; readonly creditType: CreditType; readonly removedBy: string; readonly removedAt: string };
}

/**
 * A request to the billing service to buy the rule's pack, recorded with the charge that left the
 * balance below the threshold, or with the charge refused for lack of credits. At most one per credit
 * type is outstanding; the billing service completes it with an `auto_recharge` purchase naming it, or
 * reports that the payment failed. The ledger never takes money.
 */
export interface AutoRechargeRequested {
  readonly type: 'AutoRechargeRequested';
  readonly data: {
    readonly accountId: string;
    readonly autoRechargeId: string;
    readonly creditType: CreditType;
    readonly credits: number;
    readonly trigger: 'below_threshold' | 'charge_refused';
    /** The balance the request was made at (after the charge, or when it was refused). */
    readonly balance: number;
    readonly threshold: number;
    readonly requestedAt: string;
  };
}

export interface AutoRechargeFailed {
  readonly type: 'AutoRechargeFailed';
  readonly data: {
    readonly accountId: string;
    readonly autoRechargeId: string;
    readonly creditType: CreditType;
    readonly reason?: string;
    /** Failures in a row, this one included; the third disables the rule. */
    readonly consecutiveFailures: number;
    readonly ruleDisabled: boolean;
    readonly failedAt: string;
    readonly fingerprint: string;
  };
}

/** When to warn about one credit type (rule 12's owner alerts): either or both kinds, or none to stop. */
export interface BalanceAlertRulesSet {
  readonly type: 'BalanceAlertRulesSet';
  readonly data: {
    readonly accountId: string;
    readonly creditType: CreditType;
    /** Percentages of the credits bought in the calendar month (UTC) that, once consumed, raise an alert. */
    readonly consumedPercents: readonly number[];
    /** An alert when a charge takes the available balance below this. */
    readonly availableBelow?: number;
    readonly setBy: string;
    readonly setAt: string;
  };
}

/** A threshold crossed by a charge: raised once per crossing, for the notification service to pass on. */
export interface BalanceAlertRaised {
  readonly type: 'BalanceAlertRaised';
  readonly data: {
    readonly accountId: string;
    readonly alertId: string;
    readonly creditType: CreditType;
    readonly kind: 'consumed_percent' | 'available_below';
    readonly threshold: number;
    readonly available: number;
    /** For `consumed_percent`: the month and its figures. */
    readonly month?: string;
    readonly consumed?: number;
    readonly bought?: number;
    readonly raisedAt: string;
  };
}

/** The business time of an event (what the stream's time order is about). */
export function occurredAtOf(event: CreditAccountEvent): string {
  switch (event.type) {
    case 'CreditsPurchased':
      return event.data.purchasedAt;
    case 'CompanyRevealed':
      return event.data.revealedAt;
    case 'RevealServedFree':
      return event.data.servedAt;
    case 'RecordsReturned':
      return event.data.chargedAt;
    case 'WebhookDispatched':
      return event.data.dispatchedAt;
    case 'WebhookNotTriggered':
      return event.data.refusedAt;
    case 'CreditsExpired':
      return event.data.expiredAt;
    case 'PurchaseRefunded':
      return event.data.refundedAt;
    case 'CreditsAdjusted':
      return event.data.adjustedAt;
    case 'AutoRechargeRuleSet':
      return event.data.setAt;
    case 'AutoRechargeRuleRemoved':
      return event.data.removedAt;
    case 'AutoRechargeRequested':
      return event.data.requestedAt;
    case 'AutoRechargeFailed':
      return event.data.failedAt;
    case 'BalanceAlertRulesSet':
      return event.data.setAt;
    case 'BalanceAlertRaised':
      return event.data.raisedAt;
    default:
      return assertNever(event);
  }
}

export function isCreditAccountEventType(type: string): type is CreditAccountEventType {
  return (CREDIT_ACCOUNT_EVENT_TYPES as readonly string[]).includes(type);
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
