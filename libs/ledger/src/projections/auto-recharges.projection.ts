import type { CreditType } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';

export type AutoRechargeStatus = 'pending' | 'completed' | 'failed';

/** One auto-recharge request and what became of it. Key: `<accountId>|<autoRechargeId>`. */
export interface AutoRechargeDoc {
  readonly accountId: string;
  readonly autoRechargeId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly trigger: 'below_threshold' | 'charge_refused';
  readonly balance: number;
  readonly threshold: number;
  readonly status: AutoRechargeStatus;
  readonly requestedAt: string;
  readonly completedAt?: string;
  readonly purchaseId?: string;
  readonly failedAt?: string;
  readonly failureReason?: string;
  readonly consecutiveFailures?: number;
  readonly ruleDisabled?: boolean;
}

export function autoRechargeKey(accountId: string, autoRechargeId: string): string {
  return `${accountId}|${autoRechargeId}`;
}

/**
 * What the billing service polls: every request with its status (rule 10). Pending requests are indexed
 * by when they were made, so the poll for them reads only them, oldest first, however many were settled.
 */
export const autoRechargesProjection: Projection<AutoRechargeDoc> = {
  name: 'auto_recharges',
  version: 3,
  indexOf: (doc) => (doc.status === 'pending' ? Date.parse(doc.requestedAt) : undefined),
  keysOf({ event, accountId }: ProjectedEvent) {
    switch (event.type) {
      case 'AutoRechargeRequested':
      case 'AutoRechargeFailed':
        return [autoRechargeKey(accountId, event.data.autoRechargeId)];
      case 'CreditsPurchased':
        return event.data.autoRechargeId !== undefined ? [autoRechargeKey(accountId, event.data.autoRechargeId)] : [];
      default:
        return [];
    }
  },
  evolve(doc, { event, accountId }: ProjectedEvent) {
    switch (event.type) {
      case 'AutoRechargeRequested': {
        const { accountId: _a, requestedAt, ...rest } = event.data;
        return { accountId, ...rest, status: 'pending', requestedAt };
      }
      case 'CreditsPurchased':
        return doc && { ...doc, status: 'completed', completedAt: event.data.purchasedAt, purchaseId: event.data.purchaseId };
      case 'AutoRechargeFailed':
        return (
          doc && {
            ...doc,
            status: 'failed',
            failedAt: event.data.failedAt,
            ...(event.data.reason !== undefined ? { failureReason: event.data.reason } : {}),
            consecutiveFailures: event.data.consecutiveFailures,
            ruleDisabled: event.data.ruleDisabled,
          }
        );
      default:
        return doc;
    }
  },
};
