import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '#event-store';
import { LEDGER_PROJECTIONS, SqliteReadModelStore } from '#ledger';
import { replay } from '../apps/ledger/src/cli/replay.command.js';
import type { BenchFigure } from './bench-figure.js';
import { seedLedgerHistory, type SeedOptions } from './ledger-history.seed.js';

/** The bench prints its own table; the CLI's progress line would only interleave with it. */
const silent = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

export const REPLAY_SIZES = {
  quick: { total: 300_000, templateAccounts: 100, commandsPerAccount: 200 },
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
    const { events, seconds } = await measureReplay(file, join(dir, 'read-models.sqlite'));
    if (events !== seeded.events) throw new Error(`replayed ${events} events of ${seeded.events}`);
    const megabytes = Math.round(statSync(file).size / 2 ** 20);
    const note = `${events} events (${seeded.accounts} accounts, ${megabytes} MiB; seeded in ${seedSeconds.toFixed(1)} s), ${LEDGER_PROJECTIONS.length} projections, fresh tables then swap`;
    return [
      { bench: 'replay_all_projections_events_per_second', value: Math.round(events / seconds), unit: 'events/s', note },
      { bench: 'replay_all_projections_seconds', value: Number(seconds.toFixed(2)), unit: 's', note: `${events} events` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
