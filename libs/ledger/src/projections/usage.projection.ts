import { assertNever, iso } from '#domain';
import { USAGE_SOURCES, type BySource, type UsageSource } from '../read-path/usage-report.js';
import { inPlaceProjection, type ProjectedEvent, type Projection } from './projection.js';

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

type Counters = Record<string, number>;
interface MutableBucket {
  accountId: string;
  bucket: string;
  credits: { api: number; company: number };
  bySource: BySource;
  requests: number;
  lastRevealRequest?: string;
  webhooks: Record<string, { dispatched: number; not_triggered: number }>;
  byUser: Record<string, { api: number; company: number }>;
  byApiKey: Record<string, { api: number }>;
}

export const usageProjection: Projection<UsageBucketDoc> = inPlaceProjection<UsageBucketDoc>({
  name: 'usage',
  version: 1,
  // Usage is consumption and requests; money in or out (purchases, refunds, adjustments, expiries) is not.
  keysOf: (e) => (CONSUMPTION.has(e.event.type) ? [usageBucketKey(e.accountId, e.occurredAt)] : []),
  copy: (doc) => ({
    ...doc,
    credits: { ...doc.credits },
    bySource: { ...doc.bySource },
    webhooks: copyCounters(doc.webhooks),
    byUser: copyCounters(doc.byUser),
    byApiKey: copyCounters(doc.byApiKey),
  }),
  evolveInPlace(doc, e: ProjectedEvent, key) {
    const current: MutableBucket = (doc as MutableBucket | undefined) ?? {
      accountId: e.accountId,
      bucket: key.slice(e.accountId.length + 1),
      credits: { api: 0, company: 0 },
      bySource: { ...NO_SOURCES },
      requests: 0,
      webhooks: {},
      byUser: {},
      byApiKey: {},
    };
    const { event } = e;
    switch (event.type) {
      case 'RecordsReturned': {
        const d = event.data;
        // The metadata is only read when the event itself does not say who: decoding it is not free.
        consume(current, 'api', d.endpoint, d.credits, d.userId ?? e.actorUserId);
        current.requests += 1;
        if (d.apiKeyId !== undefined) add(current.byApiKey, d.apiKeyId, { api: d.credits });
        return current;
      }
      case 'CompanyRevealed': {
        const d = event.data;
        consume(current, 'company', d.action === 'export' ? 'exports' : 'reveals', d.credits, d.userId ?? e.actorUserId);
        if (current.lastRevealRequest !== d.requestId) current.requests += 1;
        current.lastRevealRequest = d.requestId;
        return current;
      }
      case 'RevealServedFree':
        current.requests += 1;
        current.lastRevealRequest = event.data.requestId;
        return current;
      case 'WebhookDispatched': {
        const d = event.data;
        consume(current, 'api', 'webhooks', d.credits, undefined);
        current.requests += 1;
        add(current.webhooks, d.webhookId, { dispatched: 1, not_triggered: 0 });
        return current;
      }
      case 'WebhookNotTriggered':
        add(current.webhooks, event.data.webhookId, { dispatched: 0, not_triggered: 1 });
        return current;
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
});

function consume(doc: MutableBucket, creditType: 'api' | 'company', source: UsageSource, credits: number, userId: string | undefined): void {
  doc.credits[creditType] += credits;
  doc.bySource[source] += credits;
  if (userId !== undefined) add(doc.byUser, userId, creditType === 'api' ? { api: credits, company: 0 } : { api: 0, company: credits });
}

/**
 * Records are keyed by callers' ids (users, webhooks), and an id may be "constructor" or "toString":
 * only own entries count. Assigning makes an own entry of any key but `__proto__`, whose setter would
 * change the record's prototype instead: that one is defined. (Defining every entry was 3% of a replay.)
 */
function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** Adds counters into the entry of a record, field by field; a new entry takes `delta` itself. */
function add<T extends Counters>(record: Record<string, T>, key: string, delta: T): void {
  const existing = Object.hasOwn(record, key) ? record[key] : undefined;
  if (existing === undefined) setOwn(record, key, delta);
  else for (const field of Object.keys(delta) as (keyof T)[]) existing[field] = (existing[field] + delta[field]) as T[keyof T];
}

function copyCounters<T extends Counters>(record: Readonly<Record<string, T>>): Record<string, T> {
  const copy: Record<string, T> = {};
  for (const key of Object.keys(record)) setOwn(copy, key, { ...record[key]! });
  return copy;
}
