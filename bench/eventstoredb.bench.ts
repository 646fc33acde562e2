import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { AppendRequest } from '#event-store';
import { EventStoreDbEventStore } from '#event-store/eventstoredb';
import { LEDGER_PROJECTIONS, SqliteReadModelStore } from '#ledger';
import { replay } from '../apps/ledger/src/cli/replay.command.js';
import type { BenchFigure } from './bench-figure.js';
import { outputOfBenchProcess } from './bench-process.js';
import { hotAccountBench, manyAccountsBench } from './command-bus.bench.js';
import { copyOf, templateRows, type SeedOptions } from './ledger-history.seed.js';

/**
 * The write and replay benches in EventStoreDB mode, against the project's in-memory gRPC EventStoreDB
 * test server in its own process. They measure the adapter, the client and the protocol on loopback, not
 * a real server's disk, and use smaller sizes than the SQLite benches.
 */
export const ESDB_SIZES = {
  quick: { hotCharges: 3_000, accounts: 300, manyCharges: 3_000, inFlight: 1_000, replay: { total: 30_000, templateAccounts: 50, commandsPerAccount: 200 } },
  full: { hotCharges: 30_000, accounts: 1_000, manyCharges: 30_000, inFlight: 500, replay: { total: 300_000, templateAccounts: 100, commandsPerAccount: 500 } },
} satisfies Record<string, { hotCharges: number; accounts: number; manyCharges: number; inFlight: number; replay: SeedOptions }>;
type EsdbSizes = (typeof ESDB_SIZES)['full'];

const SERVER_MAIN = resolve('dist/test/esdb-test-server/main.js');
const silent = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

async function startServer(): Promise<{ connectionString: string; child: ChildProcess }> {
  if (!existsSync(SERVER_MAIN)) throw new Error(`${SERVER_MAIN} is missing: build it with \`npm run esdb:test-server\` once, or \`npm run bench\``);
  const child = spawn(process.execPath, [SERVER_MAIN], {
    env: { PATH: process.env.PATH ?? '', ESDB_TEST_SERVER_PORT: '0', ESDB_TEST_SERVER_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const connectionString = await new Promise<string>((done, fail) => {
    child.once('exit', (code) => fail(new Error(`the EventStoreDB test server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; connectionString?: string };
        if (entry.msg === 'esdb test server listening' && entry.connectionString) done(entry.connectionString);
      } catch {
        // not a JSON line
      }
    });
  });
  return { connectionString, child };
}

const SETUP = 'in-memory EventStoreDB test server';
const esdb = (connectionString: string) => ({ LEDGER_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: connectionString });

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** The seeded history (the same template as the SQLite replay bench) appended in batches of 1,000 events. */
async function seedHistory(store: EventStoreDbEventStore, options: SeedOptions): Promise<number> {
  const template = await templateRows(options);
  const copies = Math.max(1, Math.round(options.total / template.length));
  for (let copy = 0; copy < copies; copy++) {
    const rows = copyOf(template, copy);
    for (let start = 0; start < rows.length; start += 1000) {
      const requests: AppendRequest[] = [];
      for (const row of rows.slice(start, start + 1000)) {
        const event = { id: randomUUID(), type: row.type, data: JSON.parse(row.data) as unknown, ...(row.metadata ? { metadata: JSON.parse(row.metadata) as Record<string, unknown> } : {}) };
        const last = requests[requests.length - 1];
        if (last?.streamId === row.stream_id) (last.events as unknown[]).push(event);
        else requests.push({ streamId: row.stream_id, expectedRevision: 'any', events: [event] });
      }
      await store.appendMany(requests);
    }
  }
  return copies * template.length;
}

async function replayAll(connectionString: string, options: SeedOptions): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-esdb-replay-'));
  const store = EventStoreDbEventStore.connect(connectionString);
  const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  try {
    const seeded = await seedHistory(store, options);
    const { events, seconds } = await replay(store, readModels, LEDGER_PROJECTIONS, silent);
    if (events < seeded) throw new Error(`replayed ${events} events of ${seeded}`);
    return [
      {
        bench: 'replay_all_projections_events_per_second_esdb',
        value: Math.round(events / seconds),
        unit: 'events/s',
        note: `${events} events read over gRPC from the in-memory EventStoreDB test server, ${LEDGER_PROJECTIONS.length} projections`,
      },
      { bench: 'replay_all_projections_seconds_esdb', value: Number(seconds.toFixed(2)), unit: 's', note: `${events} events` },
    ];
  } finally {
    readModels.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `eventStoreDbBench` in a process of its own (`eventstoredb.main.ts`), started with the app's Node flags:
 * not in the bench's process, whose heap the earlier benches have left about 1.3 GB in use (see
 * `httpLoadFromFreshProcess`).
 */
export async function eventStoreDbBenchFromFreshProcess(quick: boolean): Promise<BenchFigure[]> {
  const output = await outputOfBenchProcess(new URL('./eventstoredb.main.js', import.meta.url), quick ? ['--quick'] : []);
  return output
    .split('\n')
    .filter((line) => line.startsWith('{"bench"'))
    .map((line) => JSON.parse(line) as BenchFigure);
}

export async function eventStoreDbBench(sizes: EsdbSizes): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  // A fresh server for each bench: its log lives in memory, and each bench should start from an empty one.
  for (const run of [
    (connectionString: string) => hotAccountBench({ env: esdb(connectionString), charges: sizes.hotCharges, inFlight: sizes.inFlight, suffix: '_esdb', setup: SETUP }),
    (connectionString: string) =>
      manyAccountsBench({ env: esdb(connectionString), charges: sizes.manyCharges, accounts: sizes.accounts, inFlight: sizes.inFlight, suffix: '_esdb', setup: SETUP }),
    (connectionString: string) => replayAll(connectionString, sizes.replay),
  ]) {
    const { connectionString, child } = await startServer();
    try {
      figures.push(...(await run(connectionString)));
    } finally {
      await stopServer(child);
    }
  }
  return figures;
}
