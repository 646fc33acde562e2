import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { placeThreads, processCpus, quietestCpu, threadsCanBePlaced } from '#event-store';
import type { BenchFigure } from './bench-figure.js';
import { hotAccountBench, longHistoryCpuPerCharge, manyAccountsBench } from './command-bus.bench.js';
import { httpLoadFromFreshProcess } from './http-load.js';
import { REPLAY_SIZES, replayBench } from './replay.bench.js';
import { eventStoreDbBenchFromFreshProcess } from './eventstoredb.bench.js';
import { expirySweepSearch } from './expiry-sweep.bench.js';
import { idempotencyEntriesInMemory } from './idempotency-entries.bench.js';
import { revealHeavyAccount } from './reveal-heavy.bench.js';
import { busyAccountReads } from './busy-account-reads.bench.js';
import { stolenCpuFigure, stolenCpuMeter } from './stolen-cpu.js';
import { coldStart, hotAccountWithoutProjections, manyAccountsMemory } from './write-path.js';

/**
 * `npm run bench [-- --quick]`: durable charges per second through the command bus (the same path an
 * HTTP request takes after validation), for one hot account and for many accounts, beside the rate at
 * which this machine inserts the same events into SQLite with the best batching. Ratios taken in one
 * run are what to compare: these machines are shared and noisy.
 */
const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { hotCharges: 20_000, accounts: 2_000, manyCharges: 20_000, raw: 50_000, inFlight: 2_000, warmUp: 20_000 }
  : { hotCharges: 200_000, accounts: 10_000, manyCharges: 200_000, raw: 300_000, inFlight: 4_000, warmUp: 100_000 };

/**
 * The reference: the same event rows (same JSON sizes) inserted into an events table laid out as the
 * store's (its unique index on stream number and revision), in transactions of 10,000 rows, WAL and
 * synchronous=FULL, with no ledger logic at all.
 */
function rawSqlite(): BenchFigure[] {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-raw-'));
  const db = new Database(join(dir, 'raw.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, stream_no INTEGER NOT NULL, revision INTEGER NOT NULL,
      stream_id TEXT NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
      created INTEGER NOT NULL);
      CREATE UNIQUE INDEX events_by_stream ON events (stream_no, revision)`);
    const insert = db.prepare('INSERT INTO events (stream_no, revision, stream_id, event_id, type, data, metadata, created) VALUES (1, ?, ?, ?, ?, ?, ?, ?)');
    const rows = Array.from({ length: SIZES.raw }, (_, i) => [
      i,
      'creditAccount-hot',
      randomUUID(),
      'RecordsReturned',
      JSON.stringify({
        accountId: 'hot', requestId: `req-${i}`, endpoint: 'job_search', recordsRequested: 1, recordsBilled: 1, unitPrice: 1,
        priceTable: '2025-01', creditType: 'api', credits: 1, allocations: [{ purchaseId: 'pack-hot', credits: 1 }],
        apiKeyId: 'key-1', chargedAt: new Date().toISOString(), fingerprint: 'v1:abcdefghijk',
      }),
      JSON.stringify({ correlationId: `corr-${i}`, causationId: `request:req-${i}`, actor: { service: 'bench', apiKeyId: 'key-1' }, occurredAt: new Date().toISOString(), schemaVersion: 1 }),
      Date.now(),
    ] as const);
    const insertBatch = db.transaction((batch: typeof rows) => {
      for (const row of batch) insert.run(...row);
    });
    const started = process.hrtime.bigint();
    const stolen = stolenCpuMeter();
    for (let i = 0; i < rows.length; i += 10_000) insertBatch(rows.slice(i, i + 10_000));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return [
      {
        bench: 'raw_sqlite_inserts_per_second',
        value: Math.round(SIZES.raw / seconds),
        unit: 'events/s',
        note: `${SIZES.raw} prepared inserts, 10,000 per transaction, WAL + synchronous=FULL`,
      },
      ...stolenCpuFigure('raw_sqlite_inserts_per_second', stolen()),
    ];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The CPU `LEDGER_DECIDING_CPUS=auto` chooses here, where threads can be placed. */
function decidingCpuOfThisMachine(): number | undefined {
  return threadsCanBePlaced() ? quietestCpu(processCpus()) : undefined;
}

async function main() {
  console.log(`credit-ledger bench${quick ? ' (quick)' : ''} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  const figures: BenchFigure[] = [];
  // The deciding thread on a CPU of its own, the other threads on the rest (`LEDGER_DECIDING_CPUS`), where
  // the machine allows it; the raw reference's inserts get the same CPU, its helpers the others.
  const deciding = decidingCpuOfThisMachine();
  const placed: Record<string, string> = deciding === undefined ? {} : { LEDGER_DECIDING_CPUS: String(deciding) };
  const where = deciding === undefined ? '' : `, deciding thread on CPU ${deciding} (LEDGER_DECIDING_CPUS)`;
  console.log(deciding === undefined ? 'threads placed by the scheduler' : `deciding thread (and the raw inserts) on CPU ${deciding}, every other thread on the other CPUs`);
  const undoPlacement = deciding === undefined ? () => {} : placeThreads([deciding]);
  try {
    figures.push(...rawSqlite());
  } finally {
    undoPlacement();
  }
  const chargeBench = { inFlight: SIZES.inFlight, warmUp: SIZES.warmUp, suffix: '', setup: `fsync per group commit${where}` };
  figures.push(...(await hotAccountBench({ ...chargeBench, env: placed, charges: SIZES.hotCharges })));
  if (deciding !== undefined) {
    figures.push(...(await hotAccountBench({ ...chargeBench, env: {}, charges: SIZES.hotCharges, suffix: '_unplaced', setup: 'fsync per group commit, threads placed by the scheduler (for comparison)' })));
  }
  figures.push(
    ...(await hotAccountBench({ ...chargeBench, env: placed, charges: SIZES.hotCharges, suffix: '_random_ids', requestIds: 'random', setup: `fsync per group commit${where}` })),
  );
  figures.push(...(await manyAccountsBench({ ...chargeBench, env: placed, charges: SIZES.manyCharges, accounts: SIZES.accounts })));
  const history = { lots: quick ? 1_000 : 10_000, rate: 2_000, seconds: quick ? 2 : 5 };
  const fresh = await longHistoryCpuPerCharge({ ...history, lots: 0 });
  const long = await longHistoryCpuPerCharge(history);
  figures.push(
    { bench: 'fresh_account_cpu_per_charge', value: fresh.cpuPerCharge, unit: 'µs', note: `CPU of every thread a charge, at a steady ${history.rate.toLocaleString('en')}/s, one account` },
    {
      bench: 'long_history_account_cpu_per_charge',
      value: long.cpuPerCharge,
      unit: 'µs',
      note: `the same, the account having bought and spent ${history.lots.toLocaleString('en')} lots first`,
    },
    {
      bench: 'long_history_set_up_projected_ms',
      value: long.setUpProjectedMs,
      unit: 'ms',
      note: `${history.lots.toLocaleString('en')} lots bought, then each spent, until the projections applied it all (its balance holds them all open at once)`,
    },
  );
  // Before the benches that leave this process a large heap (a million accounts): its holds are the
  // reads' own, not those of collecting what earlier benches left.
  figures.push(...(await busyAccountReads(quick ? 60 : 366)));
  figures.push(...(await replayBench(quick ? REPLAY_SIZES.quick : REPLAY_SIZES.full)));
  figures.push(await hotAccountWithoutProjections(SIZES.hotCharges, SIZES.inFlight, SIZES.warmUp));
  figures.push(...(await coldStart(quick ? 50_000 : 1_000_000)), ...(await manyAccountsMemory(quick ? 120_000 : 1_000_000)));
  figures.push(...(await (quick ? expirySweepSearch(100_000, 1_000) : expirySweepSearch(1_000_000, 10_000))));
  figures.push(...(await revealHeavyAccount(quick ? 50 : 300)));
  // The entries the HTTP bench's server holds when it runs at a fixed rate.
  figures.push(...(await idempotencyEntriesInMemory(100, 175_000)));
  const http = await httpLoadFromFreshProcess(
    quick
      ? { batches: 20, singleSeconds: 3, concurrency: 32, fixedRate: 5_000, fixedRateSeconds: 3, fixedRateWarmUpSeconds: 1 }
      : { batches: 100, singleSeconds: 10, concurrency: 32, fixedRate: 5_000, fixedRateSeconds: 10, fixedRateWarmUpSeconds: 2 },
  );
  figures.push(
    { bench: 'http_batch_charges_per_second', value: http.batchChargesPerSecond, unit: 'charges/s', note: 'POST /v1/record-charges:batch, 1,000 charges a request, 4 in flight, load from a second process' },
    { bench: 'http_single_requests_per_second', value: http.singleRequestsPerSecond, unit: 'requests/s', note: 'POST …/record-charges, one charge a request, 32 clients' },
    { bench: 'http_single_latency_p50', value: http.p50, unit: 'ms', note: 'single-charge request latency' },
    { bench: 'http_single_latency_p99', value: http.p99, unit: 'ms', note: 'single-charge request latency' },
    { bench: 'http_single_latency_p999', value: http.p999, unit: 'ms', note: 'single-charge request latency' },
    { bench: 'http_fixed_rate_answered_per_second', value: http.fixedRate.answeredPerSecond, unit: 'requests/s', note: `single charges sent at ${http.fixedRate.rate.toLocaleString('en')}/s whatever the answers' pace (64 connections)` },
    { bench: 'http_fixed_rate_latency_p50', value: http.fixedRate.p50, unit: 'ms', note: 'at the fixed rate, from when each request was due' },
    { bench: 'http_fixed_rate_latency_p99', value: http.fixedRate.p99, unit: 'ms', note: 'at the fixed rate, from when each request was due' },
    { bench: 'http_fixed_rate_latency_p999', value: http.fixedRate.p999, unit: 'ms', note: 'at the fixed rate, from when each request was due' },
    {
      bench: 'http_fixed_rate_generator_delay_p99',
      value: http.fixedRate.generatorDelayP99,
      unit: 'ms',
      note: "the load generator's own event-loop delay at the fixed rate: requests go out and answers are read that much late",
    },
    { bench: 'http_fixed_rate_generator_delay_max', value: http.fixedRate.generatorDelayMax, unit: 'ms', note: 'the same, the longest' },
    {
      bench: 'http_fixed_rate_warm_up_latency_p99',
      value: http.fixedRate.warmUpP99,
      unit: 'ms',
      note: 'the same rate just before, not timed with the rest: the app out of the closed loop, its metrics just read',
    },
    {
      bench: 'http_fixed_rate_app_full_collections',
      value: http.fixedRate.appFullCollections,
      unit: 'collections',
      note: "full collections of the app's request thread at the fixed rate, its warm-up included: each held every request in flight",
    },
    ...stolenCpuFigure('http_batch', http.cpuStolen.batch),
    ...stolenCpuFigure('http_single', http.cpuStolen.single),
    ...stolenCpuFigure('http_fixed_rate', http.cpuStolen.fixedRate),
  );
  figures.push(...(await eventStoreDbBenchFromFreshProcess(quick)));
  const figure = (name: string) => figures.find((f) => f.bench === name)!.value;
  const shareOfRaw = (name: string) => Math.round((figure(name) / figure('raw_sqlite_inserts_per_second')) * 1000) / 1000;
  figures.push({
    bench: 'hot_account_share_of_raw_sqlite',
    value: shareOfRaw('hot_account_charges_per_second'),
    unit: 'ratio',
    note: 'hot-account charges/s ÷ raw inserts/s, same run',
  });
  figures.push({
    bench: 'hot_account_random_ids_share_of_raw_sqlite',
    value: shareOfRaw('hot_account_charges_per_second_random_ids'),
    unit: 'ratio',
    note: 'the same with a random UUID a request id',
  });
  if (deciding !== undefined) {
    figures.push({
      bench: 'hot_account_unplaced_share_of_raw_sqlite',
      value: shareOfRaw('hot_account_charges_per_second_unplaced'),
      unit: 'ratio',
      note: 'the same with the threads placed by the scheduler (for comparison)',
    });
  }

  const width = Math.max(...figures.map((f) => f.bench.length));
  console.log('');
  for (const f of figures) console.log(`${f.bench.padEnd(width)}  ${String(f.value).padStart(10)} ${f.unit.padEnd(10)} ${f.note}`);
  console.log('');
  for (const f of figures) console.log(JSON.stringify({ bench: f.bench, value: f.value, unit: f.unit }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
