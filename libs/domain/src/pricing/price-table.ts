import { instantOf, type Instant } from '../shared/time.js';

/** What a data call returns, and so what it is priced by (rule 6). */
export const RECORD_ENDPOINTS = ['job_search', 'company_search', 'technographics'] as const;
export type RecordEndpoint = (typeof RECORD_ENDPOINTS)[number];

export const WEBHOOK_RECORD_TYPES = ['job', 'company'] as const;
export type WebhookRecordType = (typeof WEBHOOK_RECORD_TYPES)[number];

export type PricedItem = RecordEndpoint | `webhook_${WebhookRecordType}`;

export interface PriceTable {
  readonly version: string;
  /** Inclusive: the table applies to charges at or after this instant, until the next table. */
  readonly effectiveFrom: string;
  readonly apiCreditsPerRecord: Readonly<Record<PricedItem, number>>;
}

/**
 * The price tables, oldest first. Prices are never edited in place: a change is a new table with its
 * effective date, and every charge event records the unit price it applied, so replays never depend
 * on this file. The legacy table charged one credit per record of any kind; the date the per-company
 * price of 3 took effect is not published, so 2025-01-01 is the ledger's own cut-over.
 */
export const PRICE_TABLES: readonly PriceTable[] = [
  {
    version: '2023-legacy',
    effectiveFrom: '1970-01-01T00:00:00.000Z',
    apiCreditsPerRecord: {
      job_search: 1,
      company_search: 1,
      technographics: 1,
      webhook_job: 1,
      webhook_company: 1,
    },
  },
  {
    version: '2025-01',
    effectiveFrom: '2025-01-01T00:00:00.000Z',
    apiCreditsPerRecord: {
      job_search: 1,
      company_search: 3,
      technographics: 3,
      webhook_job: 1,
      webhook_company: 3,
    },
  },
];

const EFFECTIVE_FROM = PRICE_TABLES.map((t) => instantOf(t.effectiveFrom));

export function priceTableAt(at: Instant, tables: readonly PriceTable[] = PRICE_TABLES): PriceTable {
  const starts = tables === PRICE_TABLES ? EFFECTIVE_FROM : tables.map((t) => instantOf(t.effectiveFrom));
  for (let i = tables.length - 1; i >= 0; i--) if (starts[i]! <= at) return tables[i]!;
  throw new Error(`No price table in effect at ${new Date(at).toISOString()}`);
}

export function unitPriceAt(item: PricedItem, at: Instant): { unitPrice: number; priceTable: string } {
  const table = priceTableAt(at);
  return { unitPrice: table.apiCreditsPerRecord[item], priceTable: table.version };
}
