import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DAY_MS, type RecordEndpoint } from '#domain';
import { SqliteEventStore } from '#event-store';
import { CreditAccountWriter, LEDGER_PROJECTIONS, ProjectionEngine, readAccountStatement, SqliteReadModelStore, systemClock, usageReport } from '#ledger';
import { jsonChunks } from '../apps/ledger/src/audit/streamed-json.js';
import type { BenchFigure } from './bench-figure.js';
import { fullCollection } from './full-collection.js';
import { withLongestHold } from './longest-hold.js';

const context = { correlationId: 'bench', actor: 'bench' };
const QUARTER_MS = 15 * 60_000;
const ENDPOINTS: readonly RecordEndpoint[] = ['job_search', 'company_search', 'technographics'];

/**
 * The reads of a busy account over a long range: `days` days with a charge in every 15-minute bucket
 * (35,136 for a year), seven users and three API keys. Its usage page for the longest range it takes, and
 * its statement for the whole period as the route writes it (the fold of its stream, then the JSON a slice
 * of movements at a time): how long each takes, and the longest each holds the thread that also answers
 * requests.
 */
export async function busyAccountReads(days: number): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-usage-'));
  const store = SqliteEventStore.open(join(dir, 'events.sqlite'));
  const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  try {
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const first = today - days * DAY_MS;
    const writer = new CreditAccountWriter(store, systemClock);
    await writer.execute(
      { type: 'PurchaseCredits', accountId: 'busy', occurredAt: first, purchaseId: 'grant', creditType: 'api', credits: 1_000_000_000, paid: false, expiresAt: today + 365 * DAY_MS },
      context,
    );
    const buckets = days * 96;
    for (let i = 0; i < buckets; i += 2_000) {
      await Promise.all(
        Array.from({ length: Math.min(2_000, buckets - i) }, (_, j) =>
          writer.execute(
            {
              type: 'ChargeRecords',
              accountId: 'busy',
              occurredAt: first + (i + j) * QUARTER_MS + 60_000,
              requestId: `rq-${i + j}`,
              endpoint: ENDPOINTS[(i + j) % 3]!,
              records: 1 + ((i + j) % 5),
              allowPartial: false,
              userId: `u-${(i + j) % 7}`,
              apiKeyId: `key-${(i + j) % 3}`,
            },
            context,
          ),
        ),
      );
    }
    await writer.close();
    const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, batchSize: 5_000 });
    engine.start();
    const caughtUp = await engine.waitFor((await store.headPosition())!.commit, 120_000);
    await engine.stop();
    if (!caughtUp) throw new Error('the projections did not catch up with the seeded history');

    const iso = (at: number) => new Date(at).toISOString().slice(0, 10);
    const range = { from: iso(first), to: iso(today - DAY_MS), timezone: 'America/New_York' };
    await usageReport(readModels, 'busy', range, Date.now()); // warm
    // Each read is measured from a clean young generation: a collection it triggers then copies what the
    // read keeps alive, not what the seeding left (with 64 MiB semi-spaces such a copy took 17-28 ms).
    const collect = fullCollection();
    collect();
    const started = performance.now();
    const { result, longestMs } = await withLongestHold(() => usageReport(readModels, 'busy', range, Date.now()));
    const ms = performance.now() - started;
    if (!result || result.totals.requests < buckets - 2 * 96) throw new Error('the usage report missed requests');

    collect();
    const statementStarted = performance.now();
    const statement = await withLongestHold(async () => {
      const read = await readAccountStatement(store, 'busy', { from: first - DAY_MS, to: Date.now() });
      let length = 0;
      for await (const chunk of jsonChunks(read!, 'movements')) length += chunk.length;
      return { movements: read!.movements.length, length };
    });
    const statementMs = performance.now() - statementStarted;
    if (statement.result.movements !== buckets + 1) throw new Error('the statement missed movements');
    return [
      { bench: 'usage_report_busy_account_ms', value: Math.round(ms), unit: 'ms', note: `GET …/usage for ${days} days of an account charged in every 15-minute bucket (${buckets.toLocaleString('en')} buckets)` },
      { bench: 'usage_report_longest_hold_ms', value: Math.round(longestMs * 10) / 10, unit: 'ms', note: 'the longest the request thread went without a turn of its event loop meanwhile' },
      {
        bench: 'statement_busy_account_ms',
        value: Math.round(statementMs),
        unit: 'ms',
        note: `GET …/statement for the same ${days} days: ${statement.result.movements.toLocaleString('en')} movements, ${(statement.result.length / 2 ** 20).toFixed(1)} MiB of JSON`,
      },
      { bench: 'statement_longest_hold_ms', value: Math.round(statement.longestMs * 10) / 10, unit: 'ms', note: 'the longest the request thread went without a turn meanwhile' },
    ];
  } finally {
    readModels.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
