import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  creditAccountStream,
  decide,
  evolve,
  idempotencyKeyOf,
  initialState,
  type ChargeRecords,
  type CreditAccountCommand,
} from '#domain';
import { SqliteEventStore, type NewEvent } from '#event-store';
import {
  CreditAccountWriter,
  encodeEvent,
  PROJECTION_ENGINE,
  SqliteAccountSnapshots,
  systemClock,
  type CommandContext,
  type ProjectionFollower,
} from '#ledger';
import { buy, chargeOne, drive, withLedger } from './command-bus.bench.js';
import { fullCollection } from './full-collection.js';

/**
 * Write-path figures beyond throughput: how fast a long-lived account answers its first command after a
 * restart, and how much memory the write path holds once very many accounts have been touched.
 */

export interface WritePathFigure {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
  readonly note: string;
}

const context: CommandContext = { correlationId: 'bench', actor: 'bench', apiKeyId: 'k-1' };

function charge(accountId: string, requestId: string, occurredAt: number): ChargeRecords {
  return { type: 'ChargeRecords', accountId, requestId, endpoint: 'job_search', records: 1, allowPartial: false, occurredAt };
}

/**
 * Writes an account's history straight into the store, decided by the domain as the write path would
 * (one purchase, then charges), in appends of 10,000: the write path itself would take minutes.
 */
async function writeHistory(store: SqliteEventStore, accountId: string, from: number, count: number, state = initialState()) {
  const streamId = creditAccountStream(accountId);
  let revision: bigint | 'no_stream' = from === 0 ? 'no_stream' : BigInt(from - 1);
  const start = Date.parse('2026-01-01T00:00:00.000Z');
  let pending: NewEvent[] = [];
  for (let i = from; i < from + count; i++) {
    const command: CreditAccountCommand =
      i === 0
        ? { type: 'PurchaseCredits', accountId, purchaseId: 'big', creditType: 'api', credits: 2_000_000_000, paid: true, amountMinor: 1, currency: 'USD', occurredAt: start }
        : charge(accountId, `old-${i}`, start + i);
    for (const event of decide(command, state).events) {
      evolve(state, event);
      pending.push(encodeEvent(event, randomUUID(), idempotencyKeyOf(command), context));
    }
    if (pending.length >= 10_000) {
      revision = (await store.appendToStream(streamId, pending, { expectedRevision: revision })).nextExpectedRevision;
      pending = [];
    }
  }
  if (pending.length > 0) await store.appendToStream(streamId, pending, { expectedRevision: revision });
  return state;
}

async function timeFirstCharge(dir: string, withSnapshots: boolean): Promise<{ ms: number; replayed: boolean }> {
  const store = SqliteEventStore.open(join(dir, 'events.sqlite'));
  const snapshots = withSnapshots ? SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite')) : undefined;
  try {
    const writer = new CreditAccountWriter(store, systemClock, snapshots ? { snapshots } : {});
    const started = process.hrtime.bigint();
    await writer.execute(charge('long-lived', `new-${randomUUID()}`, Date.now()), context);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // A retry of the account's first charge, long out of memory, still gets its original answer.
    const retry = await writer.execute(charge('long-lived', 'old-1', Date.parse('2026-01-01T00:00:00.001Z')), context);
    await writer.close();
    return { ms, replayed: retry.replayed };
  } finally {
    await snapshots?.close();
    await store.close();
  }
}

/**
 * An account with `events` events is answered after a restart: from its last snapshot (taken at most
 * `snapshotEvery` − 1 events before the head, the worst case), and, for contrast, by folding every event.
 */
export async function coldStart(events: number): Promise<WritePathFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-cold-'));
  const tail = 2_499;
  try {
    const store = SqliteEventStore.open(join(dir, 'events.sqlite'));
    const state = await writeHistory(store, 'long-lived', 0, events - tail);
    // The app snapshots an account after folding it: let one writer do that, then grow the tail.
    const snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'));
    const warm = new CreditAccountWriter(store, systemClock, { snapshots });
    await warm.read('long-lived', () => undefined);
    await warm.close();
    await snapshots.close();
    await writeHistory(store, 'long-lived', events - tail, tail, state);
    await store.close();

    const fromSnapshot = await timeFirstCharge(dir, true);
    const folded = await timeFirstCharge(dir, false);
    if (!fromSnapshot.replayed || !folded.replayed) throw new Error('an old request id was not recognised');
    return [
      {
        bench: 'cold_start_first_charge_ms',
        value: Math.round(fromSnapshot.ms * 10) / 10,
        unit: 'ms',
        note: `first durable charge of an account with ${events.toLocaleString('en')} events: snapshot + ${tail.toLocaleString('en')} events after it`,
      },
      {
        bench: 'cold_start_first_charge_full_fold_ms',
        value: Math.round(folded.ms),
        unit: 'ms',
        note: 'the same without snapshots: every event folded',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resident memory once `accounts` accounts have each bought credits and been charged through the write path. */
export async function manyAccountsMemory(accounts: number): Promise<WritePathFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-rss-'));
  const store = SqliteEventStore.open(join(dir, 'events.sqlite'));
  const snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'));
  try {
    const writer = new CreditAccountWriter(store, systemClock, { snapshots });
    let next = 0;
    const lane = async () => {
      while (next < accounts) {
        const accountId = `m-${next++}`;
        await writer.execute({ type: 'PurchaseCredits', accountId, purchaseId: 'p', creditType: 'api', credits: 100, paid: true, amountMinor: 1, currency: 'USD' }, context);
        await writer.execute({ type: 'ChargeRecords', accountId, requestId: 'r', endpoint: 'job_search', records: 1, allowPartial: false }, context);
      }
    };
    await Promise.all(Array.from({ length: 4000 }, lane));
    const cached = writer.cachedAccounts;
    await writer.close();
    // Measured after a full collection, so the figure is what is held, not what awaits collection.
    fullCollection()();
    const { rss, heapUsed } = process.memoryUsage();
    return [
      {
        bench: 'rss_after_many_accounts_mib',
        value: Math.round(rss / 2 ** 20),
        unit: 'MiB',
        note: `process RSS after ${accounts.toLocaleString('en')} accounts bought and charged; ${cached.toLocaleString('en')} states cached (LRU)`,
      },
      { bench: 'heap_after_many_accounts_mib', value: Math.round(heapUsed / 2 ** 20), unit: 'MiB', note: 'V8 heap in use at the same moment' },
    ];
  } finally {
    await snapshots.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The hot-account figure again with the projection engine stopped: not what the app does (it keeps its
 * read models current on the same thread), but it shows how much of the thread the read side takes.
 */
export function hotAccountWithoutProjections(charges: number, inFlight: number, warmUp: number): Promise<WritePathFigure> {
  return withLedger({}, async (bus, app) => {
    await app.get<ProjectionFollower>(PROJECTION_ENGINE).stop();
    await buy(bus, 'hot', 1_000_000_000);
    // As the hot-account figure: the warm-up first, untimed, then the timed charges at once.
    await drive(warmUp, inFlight, (i) => chargeOne(bus, 'hot', charges + i));
    const seconds = await drive(charges, inFlight, (i) => chargeOne(bus, 'hot', i));
    return {
      bench: 'hot_account_without_projections_charges_per_second',
      value: Math.round(charges / seconds),
      unit: 'charges/s',
      note: `as hot_account_charges_per_second (after ${warmUp.toLocaleString('en')} untimed), projection engine stopped (for comparison only)`,
    };
  });
}
