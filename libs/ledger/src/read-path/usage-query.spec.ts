import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide, evolve, initialState, instantOf, occurredAtOf, type CreditAccountCommand, type CreditAccountEvent } from '#domain';
import { LEDGER_PROJECTIONS } from '../projections/index.js';
import type { ProjectedEvent, Projection } from '../projections/projection.js';
import { rangeInPages, SqliteReadModelStore } from '../projections/read-model-store.js';
import { countEventLoopTurns } from '../testing/event-loop-turns.js';
import { LocalDays, localDateOf, nextDate, usageReport } from './usage-query.js';

const HOUR = 3_600_000;
const QUARTER = 15 * 60_000;
const A = 'acct-busy';

/** Events as the decider produces them for `commands`, with global positions. */
function history(commands: readonly CreditAccountCommand[]): ProjectedEvent[] {
  const state = initialState();
  const events: CreditAccountEvent[] = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.refusal) throw new Error(`${command.type} refused: ${decision.refusal.code}`);
    for (const event of decision.events) {
      evolve(state, event);
      events.push(event);
    }
  }
  return events.map((event, i) => ({
    position: 100n + BigInt(i),
    accountId: A,
    revision: BigInt(i),
    event,
    occurredAt: instantOf(occurredAtOf(event)),
    metadata: undefined,
    actorUserId: undefined,
  }));
}

/**
 * A week across New York's change to summer time (2026-03-08), a charge every 5 hours and 10 minutes
 * (so every few days a bucket lands near midnight in one zone or another), with webhooks, reveals,
 * users, API keys, purchases, a refund and an adjustment.
 */
function busyWeek(): CreditAccountCommand[] {
  const t0 = Date.parse('2026-03-04T00:05:00Z');
  const commands: CreditAccountCommand[] = [
    { type: 'PurchaseCredits', accountId: A, occurredAt: t0, purchaseId: 'p-api', creditType: 'api', credits: 100_000, paid: true, amountMinor: 10_000, currency: 'USD' },
    { type: 'PurchaseCredits', accountId: A, occurredAt: t0, purchaseId: 'p-co', creditType: 'company', credits: 1_000, paid: true, amountMinor: 5_000, currency: 'USD', invoiceId: 'inv-1' },
    { type: 'PurchaseCredits', accountId: A, occurredAt: t0 + HOUR, purchaseId: 'p-refunded', creditType: 'api', credits: 10, paid: true, amountMinor: 100, currency: 'USD' },
    { type: 'RefundPurchase', accountId: A, occurredAt: t0 + 2 * HOUR, purchaseId: 'p-refunded', reason: 'duplicate', refundedBy: 'admin' },
    { type: 'AdjustCredits', accountId: A, occurredAt: t0 + 3 * HOUR, adjustmentId: 'adj-1', creditType: 'api', credits: 25, reason: 'goodwill', adjustedBy: 'admin', expiresAt: t0 + 90 * 24 * HOUR },
  ];
  for (let i = 0, at = t0 + 4 * HOUR; at < t0 + 7 * 24 * HOUR; i++, at += 5 * HOUR + 10 * 60_000) {
    if (i % 4 === 3) commands.push({ type: 'DispatchWebhook', accountId: A, occurredAt: at, webhookEventId: `we-${i}`, webhookId: `wh-${(i >> 2) % 2}`, recordType: i % 8 === 3 ? 'company' : 'job' });
    else if (i % 4 === 2) commands.push({ type: 'RevealCompanies', accountId: A, occurredAt: at, requestId: `rv-${i}`, companyIds: [`co-${i}`, `co-${i + 1}`], action: i % 8 === 2 ? 'export' : 'reveal', allowPartial: false, userId: `u-${i % 3}` });
    else commands.push({ type: 'ChargeRecords', accountId: A, occurredAt: at, requestId: `rq-${i}`, endpoint: i % 2 ? 'job_search' : 'technographics', records: 1 + (i % 4), allowPartial: false, userId: `u-${i % 3}`, apiKeyId: `key-${i % 2}` });
  }
  return commands;
}

describe('the usage report of a busy account', () => {
  let dir: string;
  let readModels: SqliteReadModelStore;
  const now = Date.parse('2026-03-20T00:00:00Z');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'usage-query-'));
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    for (const projection of LEDGER_PROJECTIONS) readModels.ensure(projection);
    readModels.applyBatch(LEDGER_PROJECTIONS, history(busyWeek()));
  });
  afterAll(() => {
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['UTC', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham'])('is the same whatever the page size it reads (%s)', async (timezone) => {
    const range = { from: '2026-03-03', to: '2026-03-12', timezone };
    const inOnePage = await usageReport(readModels, A, range, now, 1_000_000);
    expect(inOnePage!.totals.requests).toBeGreaterThan(25);
    expect(inOnePage!.webhooks).toHaveLength(2);
    expect(inOnePage!.byUser).toHaveLength(3);
    expect(inOnePage!.purchases.map((p) => p.purchaseId)).toEqual(['adjustment:adj-1', 'p-refunded', 'p-co', 'p-api']);
    expect(inOnePage!.activity.length).toBeGreaterThanOrEqual(5);
    for (const pageSize of [1, 2, 7]) expect(await usageReport(readModels, A, range, now, pageSize)).toEqual(inOnePage);
  });

  it('puts each bucket in the day its start falls in, in the zone', async () => {
    const report = await usageReport(readModels, A, { from: '2026-03-03', to: '2026-03-12', timezone: 'America/New_York' }, now);
    const buckets = readModels.range<{ bucket: string; requests: number }>('usage', `${A}|`, `${A}|\uffff`);
    const expected = new Map<string, number>();
    for (const { doc } of buckets) {
      const date = localDateOf(Date.parse(doc.bucket), 'America/New_York');
      expected.set(date, (expected.get(date) ?? 0) + doc.requests);
    }
    expect(report!.days.filter((day) => day.requests > 0).map((day) => [day.date, day.requests])).toEqual([...expected]);
  });

  it('lets the thread answer others between its pages', async () => {
    const turns = countEventLoopTurns();
    await usageReport(readModels, A, { from: '2026-03-03', to: '2026-03-12', timezone: 'UTC' }, now, 2);
    // Two documents a page: a turn of the event loop after every full page.
    const buckets = readModels.range('usage', `${A}|`, `${A}|\uffff`).length;
    expect(buckets).toBeGreaterThan(25);
    expect(turns.stop()).toBeGreaterThanOrEqual(Math.floor(buckets / 2));
  });

  it('is undefined for an account with no history', async () => {
    expect(await usageReport(readModels, 'acct-unknown', { from: '2026-03-03', to: '2026-03-12', timezone: 'UTC' }, now)).toBeUndefined();
  });
});

describe('reading a range of documents in pages', () => {
  const keys = ['a', 'a|1', 'a|1\u0001', 'a|1x', 'a|2', 'a|20', 'a|3', 'b|1'];
  const projection: Projection<{ key: string }> = {
    name: 'paged',
    version: 1,
    keysOf: () => keys,
    evolve: (_doc, _event, key) => ({ key }),
  };
  let dir: string;
  let readModels: SqliteReadModelStore;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'range-pages-'));
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    readModels.ensure(projection);
    readModels.applyBatch([projection], history(busyWeek()).slice(0, 1));
  });
  afterAll(() => {
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([1, 2, 3, 10])('gives every document of the range once, in key order, %i at a time', async (pageSize) => {
    const pages: string[][] = [];
    for await (const page of rangeInPages<{ key: string }>(readModels, 'paged', 'a|', 'a|3')) pages.push(page.map(({ doc }) => doc.key));
    const whole = readModels.range<{ key: string }>('paged', 'a|', 'a|3').map(({ doc }) => doc.key);
    expect(whole).toEqual(['a|1', 'a|1\u0001', 'a|1x', 'a|2', 'a|20']);
    const paged: string[][] = [];
    for await (const page of rangeInPages<{ key: string }>(readModels, 'paged', 'a|', 'a|3', pageSize)) paged.push(page.map(({ doc }) => doc.key));
    expect(paged.flat()).toEqual(whole);
    expect(paged.every((page) => page.length <= pageSize && page.length > 0)).toBe(true);
    expect(pages.flat()).toEqual(whole);
  });

  it('gives nothing for an empty range', async () => {
    const pages: unknown[] = [];
    for await (const page of rangeInPages(readModels, 'paged', 'c|', 'd|', 2)) pages.push(page);
    expect(pages).toEqual([]);
  });
});

describe('the local dates of ascending instants', () => {
  // Summer time both ways in the north and the south, half-hour and 45-minute offsets, a half-hour summer
  // shift (Lord Howe), a day a zone skipped (Samoa, 2011-12-30) and a change at midnight (Santiago).
  it.each([
    ['America/New_York', '2026-03-05', 8],
    ['America/New_York', '2026-10-29', 6],
    ['Europe/London', '2026-03-27', 4],
    ['Australia/Lord_Howe', '2026-04-03', 4],
    ['Australia/Lord_Howe', '2026-10-02', 4],
    ['Asia/Kathmandu', '2026-01-01', 3],
    ['America/St_Johns', '2026-11-01', 3],
    ['Pacific/Apia', '2011-12-28', 5],
    ['America/Santiago', '2026-04-03', 4],
    ['America/Santiago', '2026-09-04', 4],
  ] as const)('are the dates the zone gives each instant (%s from %s, %i days)', (timezone, from, dayCount) => {
    let to: string = from;
    for (let i = 1; i < dayCount; i++) to = nextDate(to);
    const days = new LocalDays(from, timezone);
    const start = Date.parse(`${from}T00:00:00Z`) - 14 * HOUR;
    const end = Date.parse(`${to}T00:00:00Z`) + 38 * HOUR;
    let seen = 0;
    for (let at = start; at < end; at += QUARTER) {
      const expected = localDateOf(at, timezone);
      if (expected < from) expect(days.dateOf(at)).toBeUndefined();
      else {
        expect([at, days.dateOf(at)]).toEqual([at, expected]);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(dayCount * 90);
  });
});
