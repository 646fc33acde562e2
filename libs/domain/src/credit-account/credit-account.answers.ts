import { unitPriceAt } from '../pricing/price-table.js';
import { windowCovering } from '../reveal-windows/reveal-window.js';
import { iso } from '../shared/time.js';
import {
  distinctCompanies,
  idempotencyKeyOf,
  type ChargeRecords,
  type CreditAccountCommand,
  type DispatchWebhook,
  type PurchaseCredits,
  type RevealCompanies,
  type SweepExpiries,
  type RefundPurchase,
  type AdjustCredits,
  type SetAutoRechargeRule,
  type RemoveAutoRechargeRule,
  type FailAutoRecharge,
  type SetBalanceAlerts,
} from './credit-account.commands.js';
import type { AutoRechargeFailed, CreditAccountEvent, CreditsAdjusted, CreditsPurchased, PurchaseRefunded } from './credit-account.events.js';
import { balancesAt, balancesOf, type Balances, type CreditAccountState } from './credit-account.state.js';

/**
 * What the caller of an accepted command is told. It is read from the state after the command's events
 * were applied, through the idempotency entry the events left, so a retry gets exactly the same answer.
 */
export interface PurchaseAnswer {
  readonly lot: Omit<CreditsPurchased['data'], 'fingerprint' | 'accountId'>;
  readonly balances: Balances;
}

export interface RevealAnswer {
  readonly requestId: string;
  readonly action: RevealCompanies['action'];
  readonly charged: readonly { companyId: string; windowEndsAt: string }[];
  readonly alreadyRevealed: readonly { companyId: string; windowEndsAt: string }[];
  /** Only with partial billing: the companies the balance could not pay for (the caller withholds them). */
  readonly notCharged: readonly string[];
  readonly creditsCharged: number;
  readonly balances: Balances;
}

export interface RecordChargeAnswer {
  readonly requestId: string;
  readonly endpoint: ChargeRecords['endpoint'];
  readonly recordsRequested: number;
  readonly recordsBilled: number;
  readonly unitPrice: number;
  readonly creditsCharged: number;
  readonly balances: Balances;
}

export interface WebhookDispatchAnswer {
  readonly webhookEventId: string;
  readonly status: 'dispatched';
  readonly creditsCharged: number;
  readonly balances: Balances;
}

export interface ExpirySweepAnswer {
  /** The lots whose remainder this sweep recorded as expired (none when nothing was due). */
  readonly expired: readonly { readonly purchaseId: string; readonly creditType: string; readonly credits: number; readonly expiredAt: string }[];
  readonly balances: Balances;
}

export interface RefundAnswer {
  readonly refund: Omit<PurchaseRefunded['data'], 'fingerprint' | 'accountId'>;
  readonly balances: Balances;
}

export interface AdjustmentAnswer {
  readonly adjustment: Omit<CreditsAdjusted['data'], 'fingerprint' | 'accountId'>;
  readonly balances: Balances;
}

export interface AutoRechargeRuleAnswer {
  readonly creditType: 'api' | 'company';
  /** Null once removed. */
  readonly rule: { readonly threshold: number; readonly credits: number; readonly monthlyCap: number | null; readonly enabled: boolean; readonly consecutiveFailures: number } | null;
  readonly outstandingRequest: string | null;
}

export interface AutoRechargeFailureAnswer {
  readonly failure: Omit<AutoRechargeFailed['data'], 'fingerprint' | 'accountId'>;
}

export interface BalanceAlertRulesAnswer {
  readonly creditType: 'api' | 'company';
  readonly consumedPercents: readonly number[];
  readonly availableBelow: number | null;
}

export type CreditAccountAnswer =
  | PurchaseAnswer
  | RevealAnswer
  | RecordChargeAnswer
  | WebhookDispatchAnswer
  | ExpirySweepAnswer
  | RefundAnswer
  | AdjustmentAnswer
  | AutoRechargeRuleAnswer
  | AutoRechargeFailureAnswer
  | BalanceAlertRulesAnswer;

export function answer(command: PurchaseCredits, state: CreditAccountState): PurchaseAnswer;
export function answer(command: RevealCompanies, state: CreditAccountState): RevealAnswer;
export function answer(command: ChargeRecords, state: CreditAccountState): RecordChargeAnswer;
export function answer(command: DispatchWebhook, state: CreditAccountState): WebhookDispatchAnswer;
export function answer(command: SweepExpiries, state: CreditAccountState, recorded?: readonly CreditAccountEvent[]): ExpirySweepAnswer;
export function answer(command: RefundPurchase, state: CreditAccountState): RefundAnswer;
export function answer(command: AdjustCredits, state: CreditAccountState): AdjustmentAnswer;
export function answer(command: SetAutoRechargeRule | RemoveAutoRechargeRule, state: CreditAccountState): AutoRechargeRuleAnswer;
export function answer(command: FailAutoRecharge, state: CreditAccountState): AutoRechargeFailureAnswer;
export function answer(command: SetBalanceAlerts, state: CreditAccountState): BalanceAlertRulesAnswer;
export function answer(command: CreditAccountCommand, state: CreditAccountState, recorded?: readonly CreditAccountEvent[]): CreditAccountAnswer;
export function answer(
  command: CreditAccountCommand,
  state: CreditAccountState,
  recorded: readonly CreditAccountEvent[] = [],
): CreditAccountAnswer {
  const entry = state.idempotency.get(idempotencyKeyOf(command));
  switch (command.type) {
    case 'PurchaseCredits': {
      if (entry?.kind !== 'purchase') throw new Error(`No outcome recorded for purchase ${command.purchaseId}`);
      const { fingerprint: _f, accountId: _a, ...lot } = entry.purchase;
      return { lot, balances: balancesOf(entry) };
    }
    case 'RevealCompanies': {
      const at = entry?.kind === 'reveal' ? entry.at : command.occurredAt;
      const charged = entry?.kind === 'reveal' ? entry.charged : [];
      const chargedIds = new Set(charged.map((c) => c.companyId));
      const alreadyRevealed: { companyId: string; windowEndsAt: string }[] = [];
      const notCharged: string[] = [];
      for (const companyId of distinctCompanies(command.companyIds)) {
        if (chargedIds.has(companyId)) continue;
        // The window that made the company free is the one that covered the original request's time.
        const window = windowCovering(state.windows.get(companyId), at);
        if (window && window.requestId !== command.requestId) {
          alreadyRevealed.push({ companyId, windowEndsAt: iso(window.endsAt) });
        } else {
          notCharged.push(companyId);
        }
      }
      return {
        requestId: command.requestId,
        action: command.action,
        charged: charged.map((c) => ({ companyId: c.companyId, windowEndsAt: iso(c.windowEndsAt) })),
        alreadyRevealed,
        notCharged,
        creditsCharged: charged.length,
        balances: entry?.kind === 'reveal' ? balancesOf(entry) : balancesAt(state, at),
      };
    }
    case 'ChargeRecords': {
      if (entry?.kind === 'records') {
        return {
          requestId: command.requestId,
          endpoint: command.endpoint,
          recordsRequested: command.records,
          recordsBilled: entry.recordsBilled,
          unitPrice: entry.unitPrice,
          creditsCharged: entry.creditsCharged,
          balances: balancesOf(entry),
        };
      }
      // Only data costs (rule 7): a call that returned no records was not charged and left no event.
      return {
        requestId: command.requestId,
        endpoint: command.endpoint,
        recordsRequested: command.records,
        recordsBilled: 0,
        unitPrice: unitPriceAt(command.endpoint, command.occurredAt).unitPrice,
        creditsCharged: 0,
        balances: balancesAt(state, command.occurredAt),
      };
    }
    case 'SweepExpiries':
      return {
        expired: recorded.flatMap((event) =>
          event.type === 'CreditsExpired'
            ? [{ purchaseId: event.data.purchaseId, creditType: event.data.creditType, credits: event.data.credits, expiredAt: event.data.expiredAt }]
            : [],
        ),
        balances: balancesAt(state, command.occurredAt),
      };
    case 'RefundPurchase': {
      if (entry?.kind !== 'refund') throw new Error(`No refund recorded for ${command.purchaseId}`);
      const { fingerprint: _f, accountId: _a, ...refund } = entry.refund;
      return { refund, balances: balancesOf(entry) };
    }
    case 'AdjustCredits': {
      if (entry?.kind !== 'adjustment') throw new Error(`No adjustment recorded for ${command.adjustmentId}`);
      const { fingerprint: _f, accountId: _a, ...adjustment } = entry.adjustment;
      return { adjustment, balances: balancesOf(entry) };
    }
    case 'SetAutoRechargeRule':
    case 'RemoveAutoRechargeRule':
      return autoRechargeRuleAnswer(state, command.creditType);
    case 'SetBalanceAlerts':
      return balanceAlertRulesAnswer(state, command.creditType);
    case 'FailAutoRecharge': {
      if (entry?.kind !== 'auto-recharge-failure') throw new Error(`No failure recorded for ${command.autoRechargeId}`);
      const { fingerprint: _f, accountId: _a, ...failure } = entry.failure;
      return { failure };
    }
    case 'DispatchWebhook': {
      if (entry?.kind !== 'webhook' || entry.status !== 'dispatched') {
        throw new Error(`Webhook event ${command.webhookEventId} was not dispatched`);
      }
      return {
        webhookEventId: command.webhookEventId,
        status: 'dispatched',
        creditsCharged: entry.creditsCharged,
        balances: balancesOf(entry),
      };
    }
  }
}

export function autoRechargeRuleAnswer(state: CreditAccountState, creditType: 'api' | 'company'): AutoRechargeRuleAnswer {
  const rule = state.autoRecharge.rules[creditType];
  return {
    creditType,
    rule: rule
      ? {
          threshold: rule.threshold,
          credits: rule.credits,
          monthlyCap: rule.monthlyCap ?? null,
          enabled: rule.enabled,
          consecutiveFailures: rule.consecutiveFailures,
        }
      : null,
    outstandingRequest: state.autoRecharge.outstanding[creditType] ?? null,
  };
}

export function balanceAlertRulesAnswer(state: CreditAccountState, creditType: 'api' | 'company'): BalanceAlertRulesAnswer {
  const rules = state.alerts.rules[creditType];
  return { creditType, consumedPercents: rules?.consumedPercents ?? [], availableBelow: rules?.availableBelow ?? null };
}
