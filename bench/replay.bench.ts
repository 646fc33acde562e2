import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SqliteEventStore } from '#event-store';
import { LEDGER_PROJECTIONS, SqliteReadModelStore } from '#ledger';
import { replay } from '../apps/ledger/src/cli/replay.command.js';
import { LEDGER_NODE_FLAGS } from '../apps/ledger/src/node-flags.js';
import type { BenchFigure } from './bench-figure.js';
import { seedLedgerHistory, type SeedOptions } from './ledger-history.seed.js';
import { stolenCpuFigure, stolenCpuMeter } from './stolen-cpu.js';

const run = promisify(execFile);

/** The bench prints its own table; the CLI's progress line would only interleave with it. */
const silent = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

export const REPLAY_SIZES = {
  quick: { total: 150_000, templateAccounts: 100, commandsPerAccount: 200 },
  full: { total: 10_000_000, templateAccounts: 100, commandsPerAccount: 1_000 },
} satisfies Record<string, SeedOptions>;

/**
 * Rebuilding every projection from the first event, as `ledger replay` does it: a seeded history is
 * replayed into fresh tables, which are then swapped in.
 */
export async function replayBench(options: SeedOptions): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-replay-'));
  try {
    const file = join(dir, 'events.sqlite');
    const seedStarted = process.hrtime.bigint();
    const seeded = await seedLedgerHistory(file, options);
    const seedSeconds = Number(process.hrtime.bigint() - seedStarted) / 1e9;
    const stolen = stolenCpuMeter();
    const { events, seconds } = await measureReplay(file, join(dir, 'read-models.sqlite'));
    const replayCpuStolen = stolen();
    if (events !== seeded.events) throw new Error(`replayed ${events} events of ${seeded.events}`);
    const megabytes = Math.round(statSync(file).size / 2 ** 20);
    const note = `${events} events (${seeded.accounts} accounts, ${megabytes} MiB; seeded in ${seedSeconds.toFixed(1)} s), ${LEDGER_PROJECTIONS.length} projections, fresh tables then swap`;
    const verified = await measureVerify(file, join(dir, 'read-models.sqlite'));
    if (verified.events !== events || verified.differences !== 0) throw new Error(`verify after the replay: ${JSON.stringify(verified)}`);
    return [
      { bench: 'replay_all_projections_events_per_second', value: Math.round(events / seconds), unit: 'events/s', note },
      { bench: 'replay_all_projections_seconds', value: Number(seconds.toFixed(2)), unit: 's', note: `${events} events` },
      ...stolenCpuFigure('replay_all_projections', replayCpuStolen),
      {
        bench: 'verify_events_per_second',
        value: Math.round(verified.events / verified.seconds),
        unit: 'events/s',
        note: `ledger verify of the replayed history: ${verified.accounts} accounts, ${verified.documents} documents, in ${verified.seconds.toFixed(1)} s`,
      },
      { bench: 'verify_peak_rss', value: verified.peakRssMiB, unit: 'MiB', note: `ledger verify's process, ${verified.events} events` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `ledger verify` of an event store file and its read models, in a process of its own (`verify.main.ts`). */
export async function measureVerify(
  eventsFile: string,
  readModelsFile: string,
): Promise<{ events: number; accounts: number; documents: number; differences: number; seconds: number; peakRssMiB: number }> {
  const { stdout } = await run(process.execPath, [...LEDGER_NODE_FLAGS, fileURLToPath(new URL('./verify.main.js', import.meta.url)), eventsFile, readModelsFile], {
    maxBuffer: 2 ** 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Awaited<ReturnType<typeof measureVerify>>;
}

/** `ledger replay` of every projection over an existing event store file. */
export async function measureReplay(eventsFile: string, readModelsFile: string, threads?: number): Promise<{ events: number; seconds: number }> {
  const store = SqliteEventStore.open(eventsFile);
  const readModels = SqliteReadModelStore.open(readModelsFile);
  try {
    return await replay(store, readModels, LEDGER_PROJECTIONS, silent, threads === undefined ? {} : { threads });
  } finally {
    readModels.close();
    await store.close();
  }
}
