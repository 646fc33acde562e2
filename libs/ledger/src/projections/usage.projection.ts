import { assertNever, iso } from '#domain';
import { USAGE_SOURCES, type BySource, type UsageSource } from '../read-path/usage-report.js';
import type { ProjectedEvent, Projection } from './projection.js';

/**
 * Usage in 15-minute UTC buckets. Every time zone's offset is a whole number of quarter hours, so the
 * days of any zone are sums of whole buckets. Key: `<accountId>|<bucket start, ISO>`.
 */
export const USAGE_BUCKET_MS = 15 * 60_000;

export interface UsageBucketDoc {
  readonly accountId: string;
  readonly bucket: string;
  readonly credits: { readonly api: number; readonly company: number };
  readonly bySource: BySource;
  readonly requests: number;
  /** The last reveal request counted: its companies arrive as consecutive events. */
  readonly lastRevealRequest?: string;
  readonly webhooks: Readonly<Record<string, { readonly dispatched: number; readonly not_triggered: number }>>;
  readonly byUser: Readonly<Record<string, { readonly api: number; readonly company: number }>>;
  readonly byApiKey: Readonly<Record<string, { readonly api: number }>>;
}

export function usageBucketKey(accountId: string, at: number): string {
  return `${accountId}|${iso(Math.floor(at / USAGE_BUCKET_MS) * USAGE_BUCKET_MS)}`;
}

const CONSUMPTION: ReadonlySet<string> = new Set(['RecordsReturned', 'CompanyRevealed', 'RevealServedFree', 'WebhookDispatched', 'WebhookNotTriggered']);

const NO_SOURCES = Object.fromEntries(USAGE_SOURCES.map((s) => [s, 0])) as BySource;

export const usageProjection: Projection<UsageBucketDoc> = {
  name: 'usage',
  version: 1,
  // Usage is consumption and requests; money in or out (purchases, refunds, adjustments, expiries) is not.
  keysOf: (e) => (CONSUMPTION.has(e.event.type) ? [usageBucketKey(e.accountId, e.occurredAt)] : []),
  evolve(doc, e: ProjectedEvent, key) {
    const current: UsageBucketDoc = doc ?? {
      accountId: e.accountId,
      bucket: key.slice(e.accountId.length + 1),
      credits: { api: 0, company: 0 },
      bySource: NO_SOURCES,
      requests: 0,
      webhooks: {},
      byUser: {},
      byApiKey: {},
    };
    const { event } = e;
    const userId = e.metadata?.actor?.userId;
    switch (event.type) {
      case 'RecordsReturned': {
        const d = event.data;
        const charged = consume(current, 'api', d.endpoint, d.credits, d.userId ?? userId);
        return {
          ...charged,
          requests: charged.requests + 1,
          ...(d.apiKeyId !== undefined ? { byApiKey: add(charged.byApiKey, d.apiKeyId, { api: d.credits }) } : {}),
        };
      }
      case 'CompanyRevealed': {
        const d = event.data;
        const charged = consume(current, 'company', d.action === 'export' ? 'exports' : 'reveals', d.credits, d.userId ?? userId);
        const newRequest = current.lastRevealRequest !== d.requestId;
        return { ...charged, requests: charged.requests + (newRequest ? 1 : 0), lastRevealRequest: d.requestId };
      }
      case 'RevealServedFree':
        return { ...current, requests: current.requests + 1, lastRevealRequest: event.data.requestId };
      case 'WebhookDispatched': {
        const d = event.data;
        const charged = consume(current, 'api', 'webhooks', d.credits, undefined);
        return {
          ...charged,
          requests: charged.requests + 1,
          webhooks: add(charged.webhooks, d.webhookId, { dispatched: 1, not_triggered: 0 }),
        };
      }
      case 'WebhookNotTriggered':
        return { ...current, webhooks: add(current.webhooks, event.data.webhookId, { dispatched: 0, not_triggered: 1 }) };
      case 'CreditsPurchased':
      case 'CreditsExpired':
      case 'PurchaseRefunded':
      case 'CreditsAdjusted':
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

function consume(
  doc: UsageBucketDoc,
  creditType: 'api' | 'company',
  source: UsageSource,
  credits: number,
  userId: string | undefined,
): UsageBucketDoc {
  return {
    ...doc,
    credits: { ...doc.credits, [creditType]: doc.credits[creditType] + credits },
    bySource: { ...doc.bySource, [source]: doc.bySource[source] + credits },
    ...(userId !== undefined
      ? { byUser: add(doc.byUser, userId, creditType === 'api' ? { api: credits, company: 0 } : { api: 0, company: credits }) }
      : {}),
  };
}

/** Adds counters into the entry of a record, field by field. */
function add<T extends Record<string, number>>(record: Readonly<Record<string, T>>, key: string, delta: T): Record<string, T> {
  const existing = record[key];
  const sum = { ...delta };
  if (existing) for (const field of Object.keys(delta) as (keyof T)[]) sum[field] = (existing[field] + delta[field]) as T[keyof T];
  return { ...record, [key]: sum };
}
