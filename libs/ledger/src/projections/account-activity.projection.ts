import { iso } from '#domain';
import type { CreditAccountEvent } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';

/**
 * What happened to an account's credits besides consumption — purchases and recharges, refunds,
 * adjustments, expiries, auto-recharge requests and failures, alerts — for the usage page.
 * Key: `<accountId>|<occurredAt ISO>|<position>`, so a range of keys is a range of time.
 */
export interface ActivityDoc {
  readonly accountId: string;
  readonly occurredAt: string;
  readonly type: CreditAccountEvent['type'];
  readonly creditType: 'api' | 'company';
  /** Signed credits the event moved, when it moved any. */
  readonly credits?: number;
  readonly summary: string;
}

export function activityKey(accountId: string, occurredAt: number, position: bigint): string {
  return `${accountId}|${iso(occurredAt)}|${position.toString().padStart(20, '0')}`;
}

function describe(event: CreditAccountEvent): Omit<ActivityDoc, 'accountId' | 'occurredAt' | 'type'> | undefined {
  switch (event.type) {
    case 'CreditsPurchased': {
      const d = event.data;
      const what = d.source === 'auto_recharge' ? `Auto recharge ${d.autoRechargeId ?? ''}`.trim() : d.paid ? 'Purchase' : `Grant (${d.source})`;
      return { creditType: d.creditType, credits: d.credits, summary: `${what} ${d.purchaseId}` };
    }
    case 'PurchaseRefunded':
      return { creditType: event.data.creditType, credits: -event.data.credits, summary: `Refund of ${event.data.purchaseId}${event.data.reason ? `: ${event.data.reason}` : ''}` };
    case 'CreditsAdjusted':
      return { creditType: event.data.creditType, credits: event.data.credits, summary: `Adjustment by ${event.data.adjustedBy}: ${event.data.reason}` };
    case 'CreditsExpired':
      return { creditType: event.data.creditType, credits: -event.data.credits, summary: `Expired: the rest of ${event.data.purchaseId}` };
    case 'AutoRechargeRequested':
      return { creditType: event.data.creditType, summary: `Auto recharge ${event.data.autoRechargeId} requested (${event.data.credits} credits; balance ${event.data.balance})` };
    case 'AutoRechargeFailed':
      return {
        creditType: event.data.creditType,
        summary: `Auto recharge ${event.data.autoRechargeId} failed${event.data.reason ? `: ${event.data.reason}` : ''}${event.data.ruleDisabled ? ' — rule disabled' : ''}`,
      };
    case 'BalanceAlertRaised':
      return {
        creditType: event.data.creditType,
        summary:
          event.data.kind === 'consumed_percent'
            ? `Alert: ${event.data.threshold}% of this month's credits used (${event.data.consumed} of ${event.data.bought})`
            : `Alert: available balance below ${event.data.threshold} (${event.data.available})`,
      };
    default:
      return undefined;
  }
}

export const accountActivityProjection: Projection<ActivityDoc> = {
  name: 'account_activity',
  version: 1,
  keysOf: (e) => (describe(e.event) ? [activityKey(e.accountId, e.occurredAt, e.position)] : []),
  evolve(doc, e: ProjectedEvent) {
    const described = describe(e.event);
    return described ? { accountId: e.accountId, occurredAt: iso(e.occurredAt), type: e.event.type, ...described } : doc;
  },
};
