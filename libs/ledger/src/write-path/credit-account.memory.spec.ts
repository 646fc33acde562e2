import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evolve, initialState, type CompanyRevealed } from '#domain';
import { collect, SqliteEventStore, type EventStore } from '#event-store';
import { EventStoreDbEventStore } from '#event-store/eventstoredb';
import { EsdbTestServer } from '../../../../test/esdb-test-server/esdb-test-server.js';
import type { Clock } from '../clock/clock.port.js';
import { decodeEvent } from '../events/event-codec.js';
import type { AccountSnapshots } from '../snapshots/account-snapshots.port.js';
import { SqliteAccountSnapshots } from '../snapshots/sqlite-account-snapshots.store.js';
import { seededRandom } from '../testing/seeded-random.js';
import { snapshotsWith } from '../testing/snapshots-with.js';
import { testContext as context } from '../testing/writer-commands.js';
import { CreditAccountWriter, type Execution, type SubmittedCommand } from './credit-account.writer.js';

/** A run's own accounts: a real EventStoreDB named by EVENTSTORE_CONNECTION_STRING outlives the test. */
const run = randomUUID().slice(0, 8);
const ACCOUNTS = ['a', 'b', 'c', 'd'].map((name) => `${name}-${run}`);
/** Topped up by a few credits now and then: its commands are refused often, and retried after a top-up. */
const POOR = `poor-${run}`;
const COMPANIES = 80;
const DAY = 86_400_000;

/** `snapshots` with every write delayed by up to `maxDelayMs`, as a busy disk or thread would. */
function slowed(snapshots: AccountSnapshots, next: () => number, maxDelayMs: number): AccountSnapshots {
  const later = () => new Promise((resolve) => setTimeout(resolve, next() * maxDelayMs));
  return snapshotsWith(snapshots, {
    saveEntries: async (accountId, revision, entries) => {
      await later();
      await snapshots.saveEntries(accountId, revision, entries);
    },
    saveSnapshot: async (accountId, snapshot) => {
      await later();
      await snapshots.saveSnapshot(accountId, snapshot);
    },
  });
}

/**
 * The writer with every memory bound tiny, so that accounts are evicted and reloaded, snapshots are taken
 * every few events and stored slowly while later commands are decided and appended, and idempotency
 * entries and reveal windows leave memory and are fetched again, all the time; with two instances on
 * one store, each command and its retries go to either, and they conflict hundreds of times a run.
 * Whatever the interleaving, each command writes once and every answer to it is the same, and no company
 * is charged again inside its window. With EventStoreDB, the end also closes each store: an instance
 * whose client waits for a read it let go of never closes (the jest timeout says so).
 */
describe.each([
  ['sqlite', 1, 1],
  ['sqlite', 1, 2],
  ['sqlite', 1, 3],
  ['sqlite', 2, 4],
  ['sqlite', 2, 5],
  ['sqlite', 2, 6],
  ['eventstoredb', 1, 7],
  ['eventstoredb', 2, 8],
  ['eventstoredb', 2, 9],
] as const)('CreditAccountWriter under tiny memory bounds (%s, %i instance(s) on one store, seed %i)', (mode, instances, seed) => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-memory-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every retry as the first time, and charges each company once while its window is open', async () => {
    const next = seededRandom(seed);
    let now = Date.parse('2026-06-01T12:00:00.000Z');
    const clock: Clock = { now: () => now };
    // Each instance has its own connections to the store and the snapshot file, as two processes would.
    const server = mode === 'eventstoredb' && !process.env.EVENTSTORE_CONNECTION_STRING ? await EsdbTestServer.start() : undefined;
    const stores: EventStore[] = Array.from({ length: instances }, () =>
      mode === 'sqlite'
        ? SqliteEventStore.open(join(dir, 'ledger.sqlite'), { appendThread: true })
        : EventStoreDbEventStore.connect(process.env.EVENTSTORE_CONNECTION_STRING ?? server!.connectionString),
    );
    const snapshotFiles = Array.from({ length: instances }, () => SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread: true }));
    const open = (i: number) =>
      new CreditAccountWriter(stores[i]!, clock, { snapshots: slowed(snapshotFiles[i]!, next, 12), snapshotEvery: 15, maxEntriesInMemory: 8, maxWindowsInMemory: 6, maxCachedAccounts: 2 });
    const store = stores[0]!;

    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const sent: SubmittedCommand[] = [];
    const executions = new Map<SubmittedCommand, Execution[]>();
    // When each execution was sent and answered, in one count: a refusal sent after a success was answered
    // would be a retry that forgot its key.
    let clockTicks = 0;
    const answered = new Map<SubmittedCommand, number[]>();
    const refused = new Map<SubmittedCommand, number[]>();
    let writers = stores.map((_, i) => open(i));
    let writer = writers[0]!;
    const buy = (by: CreditAccountWriter, accountId: string, purchaseId: string, api: number, company: number) =>
      Promise.all(
        (['api', 'company'] as const).map((creditType) =>
          by.execute({ type: 'PurchaseCredits', accountId, purchaseId: `${purchaseId}-${creditType}`, creditType, credits: creditType === 'api' ? api : company, paid: true, amountMinor: 100, currency: 'USD' }, context),
        ),
      );
    for (const accountId of ACCOUNTS) await buy(writer, accountId, 'credits', 1_000_000, 1_000_000);
    await buy(writer, POOR, 'credits', 30, 3);

    const fresh = (n: number): SubmittedCommand => {
      const accountId = pick([...ACCOUNTS, POOR, POOR]);
      const kind = next();
      if (kind < 0.4) {
        return { type: 'ChargeRecords', accountId, requestId: `q-${n}`, endpoint: pick(['job_search', 'company_search', 'technographics'] as const), records: 1 + Math.floor(next() * 20), allowPartial: false };
      }
      if (kind < 0.8) {
        const companyIds = Array.from({ length: 1 + Math.floor(next() * 4) }, () => `co-${Math.floor(next() * COMPANIES)}`);
        return { type: 'RevealCompanies', accountId, requestId: `v-${n}`, companyIds, action: pick(['reveal', 'export'] as const), allowPartial: false };
      }
      return { type: 'DispatchWebhook', accountId, webhookEventId: `e-${n}`, webhookId: 'hook', recordType: pick(['job', 'company'] as const) };
    };

    for (let round = 0, n = 0; round < 40; round++) {
      const wave: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        // A third are retries of commands already sent (perhaps still in flight in this very wave).
        const command = sent.length > 0 && next() < 0.33 ? pick(sent) : fresh(n++);
        if (!sent.includes(command)) sent.push(command);
        const sentAt = clockTicks++;
        wave.push(
          pick(writers)
            .execute(command, context)
            .then(
              (execution) => {
                executions.set(command, [...(executions.get(command) ?? []), execution]);
                answered.set(command, [...(answered.get(command) ?? []), clockTicks++]);
              },
              (error: unknown) => {
                if ((error as { code?: string }).code !== 'CREDITS_INSUFFICIENT') throw error;
                refused.set(command, [...(refused.get(command) ?? []), sentAt]);
              },
            ),
        );
        if (next() < 0.2) await new Promise((resolve) => setTimeout(resolve, next() * 4));
      }
      if (next() < 0.4) wave.push(buy(pick(writers), POOR, `top-up-${round}`, 15, 2).then(() => undefined));
      await Promise.all(wave);
      // Now and then a month passes: windows close, and companies revealed again open new ones.
      now += round % 8 === 7 ? 31 * DAY : 1_000;
      if (next() < 0.15) {
        // A restart: whatever was snapshotted is loaded, the rest folded.
        await Promise.all(writers.map((w) => w.close()));
        writers = stores.map((_, i) => open(i));
      }
    }

    // Each command wrote once, whichever instance took it and however often it was sent, and every
    // execution got the same answer; after a last restart, each is a retry with that answer again.
    await Promise.all(writers.map((w) => w.close()));
    writer = open(0);
    let refusals = 0;
    for (const command of sent) {
      refusals += refused.get(command)?.length ?? 0;
      const seen = executions.get(command);
      // Refused every time: nothing to compare (sent again now, it may be paid for).
      if (!seen) continue;
      const wrote = seen.filter((execution) => !execution.replayed).length;
      if (wrote !== 1 || seen.some((execution) => JSON.stringify(execution.answer) !== JSON.stringify(seen[0]!.answer))) {
        throw new Error(`${JSON.stringify(command)} was decided ${wrote} times: ${JSON.stringify(seen)}`);
      }
      const firstAnswered = Math.min(...answered.get(command)!);
      if ((refused.get(command) ?? []).some((sentAt) => sentAt > firstAnswered)) {
        throw new Error(`${JSON.stringify(command)} was refused after it had been answered`);
      }
      const again = await writer.execute(command, context);
      expect(again.replayed).toBe(true);
      expect(again.answer).toEqual(seen[0]!.answer);
    }
    await writer.close();

    expect(refusals).toBeGreaterThan(0);

    // A company is charged again only once its window closed; a request is charged once; no lot is
    // overspent.
    let reopened = 0;
    for (const accountId of [...ACCOUNTS, POOR]) {
      const events = await collect(store.readStream(`creditAccount-${accountId}`));
      const state = initialState();
      for (const event of events) evolve(state, decodeEvent(event));
      for (const lot of state.lots.values()) expect(lot.remaining).toBeGreaterThanOrEqual(0);
      const lastCharged = new Map<string, number>();
      for (const event of events.filter((e) => e.type === 'CompanyRevealed')) {
        const { companyId, revealedAt } = event.data as CompanyRevealed['data'];
        const at = Date.parse(revealedAt);
        const before = lastCharged.get(companyId);
        if (before !== undefined) {
          expect(at - before).toBeGreaterThanOrEqual(90 * DAY);
          reopened += 1;
        }
        lastCharged.set(companyId, at);
      }
      const requests = events.filter((e) => e.type === 'RecordsReturned' || e.type === 'WebhookDispatched').map((e) => JSON.stringify([e.type, (e.data as { requestId?: string; webhookEventId?: string }).requestId ?? (e.data as { webhookEventId?: string }).webhookEventId]));
      expect(new Set(requests).size).toBe(requests.length);
    }
    expect(reopened).toBeGreaterThan(0);
    for (const file of snapshotFiles) await file.close();
    for (const each of stores) await each.close();
    await server?.stop();
  });
});
