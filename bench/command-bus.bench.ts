import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { EVENT_STORE, type EventStore } from '#event-store';
import { PROJECTION_ENGINE, type ProjectionFollower } from '#ledger';
import type { Principal } from '../apps/ledger/src/auth/scopes.js';
import { readConfig } from '../apps/ledger/src/config/ledger.config.js';
import { ChargeRecordsCommand } from '../apps/ledger/src/credit-accounts/record-charges/charge-records.command.js';
import { PurchaseCreditsCommand } from '../apps/ledger/src/credit-accounts/purchases/purchase-credits.command.js';
import { createLedgerApp } from '../apps/ledger/src/ledger.app.js';
import type { BenchFigure } from './bench-figure.js';
import { stolenCpuFigure, stolenCpuMeter } from './stolen-cpu.js';

const principal: Principal = { name: 'bench', scopes: new Set(['ledger:write', 'ledger:read', 'ledger:admin']) };

/**
 * The app (with its projections, as it really runs) in this process, on a fresh data directory; `env`
 * chooses the store. Commands go through the Nest CommandBus: the path an HTTP request takes after
 * validation.
 */
export async function withLedger<T>(env: Record<string, string>, run: (bus: CommandBus, app: INestApplicationContext) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
  const config = readConfig({
    ...env,
    LEDGER_DATA_DIR: dataDir,
    LEDGER_API_TOKENS: JSON.stringify([{ name: 'bench', token: randomUUID() + randomUUID(), scopes: ['ledger:write'] }]),
  });
  const app = await createLedgerApp(config, { logLevel: 'error' });
  try {
    return await run(app.get(CommandBus), app);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Keeps `inFlight` commands outstanding, like many concurrent requests would; resolves with the seconds taken. */
export async function drive(total: number, inFlight: number, send: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, total) }, async () => {
      while (next < total) await send(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export function buy(bus: CommandBus, accountId: string, credits: number) {
  return bus.execute(
    new PurchaseCreditsCommand(accountId, { purchaseId: `pack-${accountId}`, creditType: 'api', credits, amountMinor: 100, currency: 'USD' }, principal, randomUUID()),
  );
}

export function chargeOne(bus: CommandBus, accountId: string, i: number, requestId = `req-${i}`) {
  return bus.execute(new ChargeRecordsCommand(accountId, { requestId, endpoint: 'job_search', records: 1, apiKeyId: 'key-1' }, principal, `corr-${i}`));
}

export interface ChargeBenchOptions {
  /** The store: {} for the embedded SQLite one, or LEDGER_STORE and its connection string. */
  readonly env: Record<string, string>;
  readonly charges: number;
  readonly inFlight: number;
  /** Suffix of the figures' names (e.g. `_esdb`) and what the note adds about the setup. */
  readonly suffix: string;
  readonly setup: string;
  /**
   * Charges sent first, at once before the timed ones and in the same stream of load, so that the figure
   * is the app's steady rate: the first charges of a fresh app also pay for compiling the path and for
   * growing the heap (and, for one account, for its idempotency entries filling memory the first time).
   * Reported as a figure of their own.
   */
  readonly warmUp?: number;
  /**
   * How the charges' request ids are made: numbered (`req-1`, `req-2`, …, the default) or random UUIDs, as
   * a client that keys each request with a fresh UUID sends them. Numbered ids sort in the order they are
   * sent, so the idempotency entries stored with each snapshot land at the end of their table's B-tree;
   * random ones land anywhere in it, a page written for about each entry (docs/benchmarks.md).
   */
  readonly requestIds?: 'numbered' | 'random';
}

/**
 * Sends the warm-up charges, then the timed ones, with no pause between them (a pause would let the
 * background threads catch up outside the timed window); `charge(i)` sends charge `i`, the warm-up's
 * numbered after the timed ones.
 */
async function warmThenTime(
  options: ChargeBenchOptions,
  name: string,
  what: string,
  charge: (i: number) => Promise<unknown>,
): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  const warmUp = options.warmUp ?? 0;
  if (warmUp > 0) {
    const seconds = await drive(warmUp, options.inFlight, (i) => charge(options.charges + i));
    figures.push({
      bench: `${name}_fresh_app${options.suffix}`,
      value: Math.round(warmUp / seconds),
      unit: 'charges/s',
      note: `the first ${warmUp.toLocaleString('en')} charges after the app started (not in the figure above)`,
    });
  }
  const bench = `${name}${options.suffix}`;
  const stolen = stolenCpuMeter();
  const seconds = await drive(options.charges, options.inFlight, charge);
  figures.unshift(
    {
      bench,
      value: Math.round(options.charges / seconds),
      unit: 'charges/s',
      note: `${options.charges.toLocaleString('en')} charges, ${what}, ${options.inFlight.toLocaleString('en')} in flight${warmUp > 0 ? `, after ${warmUp.toLocaleString('en')} untimed` : ''}, ${options.setup}`,
    },
    ...stolenCpuFigure(bench, stolen()),
  );
  return figures;
}

/** Durable charges per second against one account that never runs out of credits. */
export function hotAccountBench(options: ChargeBenchOptions): Promise<BenchFigure[]> {
  return withLedger(options.env, async (bus) => {
    await buy(bus, 'hot', 1_000_000_000);
    const random = options.requestIds === 'random';
    const what = random ? 'one account, a random UUID a request id' : 'one account';
    return warmThenTime(options, 'hot_account_charges_per_second', what, (i) => chargeOne(bus, 'hot', i, random ? randomUUID() : undefined));
  });
}

/**
 * The CPU a charge costs the whole process (every thread) at a steady `rate`, for one account that first
 * bought and spent `lots` small lots and then draws on one large lot. At a steady rate each commit is its
 * own projection batch, so whatever a charge rewrites in proportion to the account's history shows here.
 * Also how long the set-up took until the projections had applied all of it: its balance holds up to
 * `lots` open lots, each spend folded into it.
 */
export function longHistoryCpuPerCharge(options: {
  readonly lots: number;
  readonly rate: number;
  readonly seconds: number;
}): Promise<{ readonly cpuPerCharge: number; readonly setUpProjectedMs: number }> {
  return withLedger({}, async (bus, app) => {
    const setUpStarted = Date.now();
    const small = (i: number) =>
      bus.execute(new PurchaseCreditsCommand('long', { purchaseId: `lot-${i}`, creditType: 'api', credits: 10, amountMinor: 10, currency: 'USD' }, principal, randomUUID()));
    await drive(options.lots, 1_000, small);
    // Ten credits a charge: each spends one small lot to nothing.
    await drive(options.lots, 1_000, (i) =>
      bus.execute(new ChargeRecordsCommand('long', { requestId: `spend-${i}`, endpoint: 'job_search', records: 10 }, principal, randomUUID())),
    );
    await buy(bus, 'long', 1_000_000_000);
    await projectionsCaughtUp(app);
    const setUpProjectedMs = Date.now() - setUpStarted;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const cpu = process.cpuUsage();
    const sent: Promise<unknown>[] = [];
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(options.rate * options.seconds, Math.floor(((Date.now() - started) / 1000) * options.rate));
        while (sent.length < due) sent.push(chargeOne(bus, 'long', sent.length));
        if (sent.length === options.rate * options.seconds) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    await Promise.all(sent);
    const used = process.cpuUsage(cpu);
    return { cpuPerCharge: Math.round((used.user + used.system) / sent.length), setUpProjectedMs };
  });
}

/**
 * Resolves once the projections have applied every event in the store: a figure taken at a steady rate
 * must not pay for folding the set-up. (A fixed wait of 2 s hid that the set-up's projection took far
 * longer after a change that slowed folding a balance of many lots twentyfold.)
 */
async function projectionsCaughtUp(app: INestApplicationContext): Promise<void> {
  const store = app.get<EventStore>(EVENT_STORE);
  const engine = app.get<ProjectionFollower>(PROJECTION_ENGINE);
  const head = (await store.headPosition())?.commit;
  if (head !== undefined && !(await engine.waitFor(head, 120_000))) {
    throw new Error(`the projections did not catch up with the set-up (at ${engine.position()}, head ${head})`);
  }
}

/** The same spread uniformly over `accounts` accounts, each bought first. */
export function manyAccountsBench(options: ChargeBenchOptions & { readonly accounts: number }): Promise<BenchFigure[]> {
  return withLedger(options.env, async (bus) => {
    await drive(options.accounts, options.inFlight, (i) => buy(bus, `acct-${i}`, 1_000_000));
    const what = `over ${options.accounts.toLocaleString('en')} accounts`;
    return warmThenTime(options, 'many_accounts_charges_per_second', what, (i) => chargeOne(bus, `acct-${i % options.accounts}`, i));
  });
}
