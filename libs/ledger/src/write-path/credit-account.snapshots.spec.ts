import { mkdtempSync, rmSync } from 'node:fs';
import { jest } from '@jest/globals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedgerError, type CreditAccountSnapshot, type RecordChargeAnswer, type RevealAnswer, type WebhookDispatchAnswer } from '#domain';
import {
  collect,
  SqliteEventStore,
  StoreUnavailableError,
  type AppendOutcome,
  type AppendRequest,
  type EventStore,
  type ReadStreamOptions,
} from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import type { AccountSnapshots, EncodedSnapshot } from '../snapshots/account-snapshots.port.js';
import { SqliteAccountSnapshots } from '../snapshots/sqlite-account-snapshots.store.js';
import { settleAll } from '../testing/settle-all.js';
import { snapshotsWith } from '../testing/snapshots-with.js';
import { storeWith } from '../testing/store-with.js';
import { charge, purchase, testContext } from '../testing/writer-commands.js';
import { CreditAccountWriter, snapshotEveryOf, type SubmittedCommand } from './credit-account.writer.js';
import { EntriesElsewhere, LOOKUPS_BEFORE_FILTER } from './entries-elsewhere.js';

const context = testContext;
let now = Date.parse('2026-06-01T12:00:00.000Z');
const clock: Clock = { now: () => now };

/** Counts the events the writer reads back, to tell a load from a snapshot from a full fold. */
function counting(inner: EventStore): { store: EventStore; read: () => number } {
  let read = 0;
  const store = new Proxy(inner, {
    get: (target, property, receiver) => {
      if (property === 'readStream') {
        return async function* (streamId: string, options?: ReadStreamOptions) {
          for await (const event of target.readStream(streamId, options)) {
            read += 1;
            yield event;
          }
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, read: () => read };
}

interface Held {
  readonly requests: readonly AppendRequest[];
  readonly resolve: (outcomes: AppendOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A store whose appends wait, in the order they were sent, until the test refuses the first of them or
 * lets them all through: the writer then has several appends of an account in flight for as long as the
 * test likes. Appends let through are written one after another, in that order.
 */
class HeldAppends {
  sent = 0;
  /** The last revision of the stream the store has written, as of the last append answered. */
  storedRevision = -1n;
  private readonly held: Held[] = [];
  private holding = true;
  private written: Promise<unknown> = Promise.resolve();

  constructor(private readonly inner: SqliteEventStore) {}

  asStore(): EventStore {
    return storeWith(this.inner, { appendMany: (requests: readonly AppendRequest[]) => this.appendMany(requests) });
  }

  /** Waits (up to 2 s) until `count` appends were sent in all. */
  async sentAtLeast(count: number): Promise<void> {
    for (const started = Date.now(); this.sent < count && Date.now() - started < 2_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(this.sent).toBeGreaterThanOrEqual(count);
  }

  get waiting(): number {
    return this.held.length;
  }

  /** Holds the appends sent from now on. */
  hold(): void {
    this.holding = true;
  }

  /** Refuses the first waiting append: nothing of it is written. */
  refuseFirst(): void {
    this.held.shift()!.reject(new StoreUnavailableError('disk full'));
  }

  /** Lets the waiting appends through, in order, and every later one as it comes. */
  letThrough(): void {
    this.holding = false;
    for (const { requests, resolve, reject } of this.held.splice(0)) this.write(requests).then(resolve, reject);
  }

  private appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    this.sent += 1;
    if (!this.holding) return this.write(requests);
    return new Promise((resolve, reject) => this.held.push({ requests, resolve, reject }));
  }

  private write(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const done = this.written.then(async () => {
      const outcomes = await this.inner.appendMany(requests);
      for (const outcome of outcomes) if (outcome.ok && outcome.nextExpectedRevision > this.storedRevision) this.storedRevision = outcome.nextExpectedRevision;
      return outcomes;
    });
    this.written = done.catch(() => undefined);
    return done;
  }
}

/** Waits (up to 5 s) for a key's entry to leave the writer's memory once its snapshot is stored. */
async function leftMemory(writer: CreditAccountWriter, key: string): Promise<void> {
  const state = await writer.read('acct', (s) => s);
  for (const started = Date.now(); state.idempotency.has(key) && Date.now() - started < 5_000; ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(state.idempotency.has(key)).toBe(false);
}

async function idle(writer: CreditAccountWriter): Promise<void> {
  // Snapshots are written between group commits; close() waits for the one under way.
  await writer.close();
}

describe.each([false, true])('CreditAccountWriter with account snapshots (written by a thread of their own: %s)', (writeThread) => {
  let dir: string;
  let store: SqliteEventStore;
  let snapshots: SqliteAccountSnapshots;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-snapshots-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
    snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread });
    now = Date.parse('2026-06-01T12:00:00.000Z');
  });

  afterEach(async () => {
    await snapshots.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function history(writer: CreditAccountWriter, charges: number): Promise<RecordChargeAnswer[]> {
    await writer.execute(purchase('acct', 1_000_000), context);
    const answers: RecordChargeAnswer[] = [];
    for (let i = 0; i < charges; i += 50) {
      const batch = Array.from({ length: Math.min(50, charges - i) }, (_, j) => writer.execute(charge('acct', `r-${i + j}`, 1 + ((i + j) % 3)), context));
      for (const { answer } of await Promise.all(batch)) answers.push(answer as RecordChargeAnswer);
      now += 1000;
    }
    return answers;
  }

  describe('accounts charged alike', () => {
    it('come due for a snapshot one by one, each at its own count between half the interval and the interval', async () => {
      const accounts = Array.from({ length: 20 }, (_, i) => `alike-${i}`);
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 40 });
      await Promise.all(accounts.map((id) => writer.execute({ ...purchase('acct', 1_000), accountId: id }, context)));
      const snapshotted: number[] = [];
      for (let round = 0; round < 40; round++) {
        await Promise.all(accounts.map((id) => writer.execute({ ...charge('acct', `${id}-${round}`), accountId: id }, context)));
        // Captured as its events are sent; stored beside the write path once they are.
        await new Promise((resolve) => setTimeout(resolve, 5));
        snapshotted.push(accounts.filter((id) => snapshots.load(id) !== undefined).length);
      }
      await idle(writer);
      // None before 20 events, every one by 40, and not all at the same count.
      expect(snapshotted.slice(0, 19).every((n) => n === 0)).toBe(true);
      expect(accounts.every((id) => snapshots.load(id) !== undefined)).toBe(true);
      expect(new Set(snapshotted).size).toBeGreaterThan(5);
    });
  });

  describe('when a snapshot comes due while appends of the account are in flight', () => {
    /** `snapshots`, noting each write with the revision it is at and the stream's last stored revision then. */
    function noting(writes: { revision: bigint; stored: bigint }[], held: HeldAppends): AccountSnapshots {
      return snapshotsWith(snapshots, {
        saveEntries: (accountId, revision, entries) => {
          writes.push({ revision, stored: held.storedRevision });
          return snapshots.saveEntries(accountId, revision, entries);
        },
        saveSnapshot: (accountId, snapshot) => {
          writes.push({ revision: snapshot.revision, stored: held.storedRevision });
          return snapshots.saveSnapshot(accountId, snapshot);
        },
      });
    }

    // Due after 50 to 100 events (`snapshotEveryOf`): within the first two appends of 50 charges.
    const options = { snapshotEvery: 100, maxCommandsPerFlush: 50, maxFlushesInFlight: 4 };

    /** An account bought, then 400 charges sent while the store holds their appends, until four are waiting. */
    async function chargedWithAppendsHeld() {
      const held = new HeldAppends(store);
      const writes: { revision: bigint; stored: bigint }[] = [];
      const writer = new CreditAccountWriter(held.asStore(), clock, { ...options, snapshots: noting(writes, held) });
      const bought = writer.execute(purchase('acct', 1_000), context);
      await held.sentAtLeast(1);
      held.letThrough();
      await bought;
      held.hold();
      const charges = Array.from({ length: 400 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context));
      await held.sentAtLeast(5);
      return { held, writes, writer, charges };
    }

    it('is captured without waiting for them, and nothing of it is stored before they are', async () => {
      const { held, writes, writer, charges } = await chargedWithAppendsHeld();
      // The account went on to its next groups past the snapshot point, none of them answered yet.
      expect(held.waiting).toBe(4);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(writes).toEqual([]);

      held.letThrough();
      const answers = await Promise.all(charges);
      await idle(writer);
      expect(answers.every((a) => !a.replayed)).toBe(true);
      expect(writes.length).toBeGreaterThan(0);
      for (const write of writes) expect(write.revision).toBeLessThanOrEqual(write.stored);
      const stored = snapshots.load('acct')!;
      expect(stored.revision).toBeGreaterThanOrEqual(300n);
      expect(snapshots.findEntry('acct', 'request:r-0')).toBeDefined();
    });

    it('stores nothing of it if they are not stored: a retry of a refused charge is charged once, before and after a restart', async () => {
      const { held, writes, writer: first, charges } = await chargedWithAppendsHeld();
      // The first append of charges is refused; the three decided on top of it then fail to land.
      held.refuseFirst();
      held.letThrough();
      const { fulfilled, rejected } = await settleAll(charges);
      await idle(first);
      expect(rejected).toHaveLength(50);
      expect(rejected.every((error) => error instanceof StoreUnavailableError)).toBe(true);
      expect(fulfilled).toHaveLength(350);
      for (const write of writes) expect(write.revision).toBeLessThanOrEqual(write.stored);
      expect(snapshots.findEntry('acct', 'request:r-0')).toBeUndefined();

      // Loaded from its snapshot, the account looks older keys up in the snapshot store.
      const second = new CreditAccountWriter(store, clock, { ...options, snapshots });
      const retried = await Promise.all(Array.from({ length: 50 }, (_, i) => second.execute(charge('acct', `r-${i}`), context)));
      expect(retried.every((r) => !r.replayed)).toBe(true);
      const again = await second.execute(charge('acct', 'r-0'), context);
      expect(again.replayed).toBe(true);
      const balance = await second.read('acct', (state) => state.spendable.api.reduce((sum, lot) => sum + lot.remaining, 0));
      expect(balance).toBe(1_000 - 400);
      expect((await collect(store.readStream('creditAccount-acct'))).length).toBe(1 + 400);
      await second.close();
    });
  });

  describe('when an account with 1,000 events is loaded again', () => {
    it('reads only the events after its last snapshot, and decides as a full fold does', async () => {
      const first = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300 });
      await history(first, 1000);
      await idle(first);
      // At least every 300 events; when exactly depends on how long the previous one took to store.
      const stored = snapshots.load('acct')!;
      expect(stored.revision).toBeGreaterThanOrEqual(700n);

      const counted = counting(store);
      const fromSnapshot = new CreditAccountWriter(counted.store, clock, { snapshots, snapshotEvery: 300 });
      const folded = new CreditAccountWriter(store, clock);
      const next = charge('acct', 'after-restart', 5);
      const a = await fromSnapshot.execute(next, context);
      // The event at the snapshot's revision (to check it) and those after it, up to revision 1000.
      expect(counted.read()).toBe(Number(1001n - stored.revision));
      expect(counted.read()).toBeLessThan(302);
      expect(a.replayed).toBe(false);
      // A writer that folds every event sees the same account: the charge is a retry with the same answer.
      expect(await folded.execute(next, context)).toEqual({ answer: a.answer, replayed: true });
      const restored = await fromSnapshot.read('acct', (state) => ({ ...state, idempotency: undefined }));
      const full = await folded.read('acct', (state) => ({ ...state, idempotency: undefined }));
      expect(restored).toEqual(full);
      await fromSnapshot.close();
      await folded.close();
    });
  });

  describe('an account that reveals companies across many snapshots', () => {
    const reveal = (requestId: string, first: number, count: number): SubmittedCommand => ({
      type: 'RevealCompanies',
      accountId: 'acct',
      requestId,
      companyIds: Array.from({ length: count }, (_, i) => `co-${first + i}`),
      action: 'reveal',
      allowPartial: false,
    });

    it('stores with each snapshot only the windows that changed, and a restart finds every one', async () => {
      const stored: { revision: bigint; windows: number }[] = [];
      const spied = snapshotsWith(snapshots, {
        saveSnapshot: (accountId, snapshot) => {
          stored.push({ revision: snapshot.revision, windows: snapshot.windows.length });
          expect(snapshot.state).not.toContain('co-');
          return snapshots.saveSnapshot(accountId, snapshot);
        },
      });
      const first = new CreditAccountWriter(store, clock, { snapshots: spied, snapshotEvery: 100 });
      await first.execute({ type: 'PurchaseCredits', accountId: 'acct', purchaseId: 'co', creditType: 'company', credits: 100_000, paid: true, amountMinor: 100, currency: 'USD' }, context);
      // 20 requests of 30 new companies: 600 windows, one event each (and a snapshot after the last).
      const answers: unknown[] = [];
      for (let r = 0; r < 20; r++) {
        answers.push((await first.execute(reveal(`rv-${r}`, r * 30, 30), context)).answer);
        now += 60_000;
      }
      // Ten more, after the last snapshot: the restarted writer folds them from the events.
      await first.execute(reveal('rv-tail', 600, 10), context);
      await idle(first);
      expect(stored.length).toBeGreaterThanOrEqual(2);
      // Each snapshot stored the companies revealed since the one before it (an event reveals one), never
      // all of them again.
      stored.forEach(({ revision, windows }, i) => {
        expect(windows).toBeGreaterThan(0);
        expect(BigInt(windows)).toBeLessThanOrEqual(revision - (i === 0 ? -1n : stored[i - 1]!.revision));
      });

      const counted = counting(store);
      const restarted = new CreditAccountWriter(counted.store, clock, { snapshots, snapshotEvery: 100 });
      // Every company is inside its window: nothing to charge. A lost window would be charged again.
      const again = await restarted.execute(reveal('rv-again', 0, 610), context);
      expect(again.answer).toMatchObject({ creditsCharged: 0, charged: [] });
      expect(counted.read()).toBeLessThan(150);
      for (const r of [0, 7, 19]) expect(await restarted.execute(reveal(`rv-${r}`, r * 30, 30), context)).toEqual({ answer: answers[r], replayed: true });
      const folded = new CreditAccountWriter(store, clock);
      const windowsOf = (writer: CreditAccountWriter) => writer.read('acct', (state) => [...state.windows].sort(([a], [b]) => a.localeCompare(b)));
      expect(await windowsOf(restarted)).toEqual(await windowsOf(folded));
      // The restarted writer's own snapshots hold the windows it folded after the one it loaded.
      for (let r = 20; r < 25; r++) await restarted.execute(reveal(`rv-${r}`, r * 30, 30), context);
      await restarted.close();
      const third = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 100 });
      // It holds the windows of the companies revealed after its snapshot (an event each), no others until
      // a command names them: here all of them, all still open.
      const head = (await collect(store.readStream('creditAccount-acct'))).length - 1;
      expect((await windowsOf(third)).length).toBe(head - Number(snapshots.load('acct')!.revision));
      expect((await third.execute(reveal('rv-all', 0, 750), context)).answer).toMatchObject({ creditsCharged: 0 });
      expect(await windowsOf(third)).toEqual(await windowsOf(folded));
      await third.close();
      await folded.close();
    });
  });

  describe('the reveal windows of an account loaded from a snapshot', () => {
    const DAY = 86_400_000;
    const companyCredits: SubmittedCommand = { type: 'PurchaseCredits', accountId: 'acct', purchaseId: 'co', creditType: 'company', credits: 100_000, paid: true, amountMinor: 100, currency: 'USD' };
    const reveal = (requestId: string, companyIds: string[]): SubmittedCommand => ({ type: 'RevealCompanies', accountId: 'acct', requestId, companyIds, action: 'reveal', allowPartial: false });
    const range = (first: number, count: number) => Array.from({ length: count }, (_, i) => `co-${first + i}`);
    const windowsOf = (writer: CreditAccountWriter, companyIds?: string[]) =>
      writer.read('acct', (state) => [...state.windows].filter(([c]) => !companyIds || companyIds.includes(c)).sort(([a], [b]) => a.localeCompare(b)));

    it('are fetched for the companies a command names, not read with the snapshot', async () => {
      const first = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 100 });
      await first.execute(companyCredits, context);
      await first.execute(purchase('acct', 1_000), context);
      for (let r = 0; r < 20; r++) await first.execute(reveal(`rv-${r}`, range(r * 30, 30)), context);
      // Charges after the reveals, so that the last snapshot comes after every reveal.
      for (let i = 0; i < 250; i++) await first.execute(charge('acct', `c-${i}`), context);
      await idle(first);
      expect(snapshots.load('acct')!.revision).toBeGreaterThan(602n);

      const fetches = jest.spyOn(snapshots, 'findWindows');
      const restarted = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 100 });
      await restarted.execute(charge('acct', 'after-restart'), context);
      expect(fetches).not.toHaveBeenCalled();
      expect(await windowsOf(restarted)).toEqual([]);
      const answer = (await restarted.execute(reveal('rv-mixed', ['co-5', 'co-new', 'co-5', 'co-599']), context)).answer;
      expect(fetches.mock.calls).toEqual([['acct', ['co-5', 'co-new', 'co-599']]]);
      expect(answer).toMatchObject({ creditsCharged: 1, charged: [{ companyId: 'co-new' }], alreadyRevealed: [{ companyId: 'co-5' }, { companyId: 'co-599' }] });
      // In memory now (one fetched, one charged): not fetched again.
      await restarted.execute(reveal('rv-again', ['co-5', 'co-new']), context);
      expect(fetches).toHaveBeenCalledTimes(1);
      // The retry of a request from before the snapshot gets its original answer.
      const folded = new CreditAccountWriter(store, clock);
      expect(await restarted.execute(reveal('rv-3', range(90, 30)), context)).toEqual(await folded.execute(reveal('rv-3', range(90, 30)), context));
      fetches.mockRestore();
      await restarted.close();
      await folded.close();
    });

    it('are merged with those folded after it, when a later snapshot stored them too', async () => {
      const encoded: EncodedSnapshot[] = [];
      const recording = snapshotsWith(snapshots, {
        saveSnapshot: (accountId, snapshot) => {
          encoded.push(snapshot);
          return snapshots.saveSnapshot(accountId, snapshot);
        },
      });
      const first = new CreditAccountWriter(store, clock, { snapshots: recording, snapshotEvery: 40 });
      await first.execute(companyCredits, context);
      await first.execute(reveal('rv-0', range(0, 30)), context);
      await first.execute(reveal('rv-1', range(30, 30)), context);
      // Once the windows closed, the same companies revealed again open second windows.
      now += 91 * DAY;
      await first.execute(reveal('rv-2', range(0, 30)), context);
      await first.execute(reveal('rv-3', range(30, 30)), context);
      await idle(first);
      // At least one before the second windows and one after (the account's own interval is 21-40 events).
      expect(encoded.length).toBeGreaterThanOrEqual(2);

      // Loaded from the older snapshot, while the rows are as of the later one (another instance's, or one
      // stored between the load and the fold): the second windows are both folded and stored.
      const older = encoded[0]!;
      const behind = snapshotsWith(snapshots, {
        load: () => ({ revision: older.revision, eventId: older.eventId, snapshot: JSON.parse(older.state) as CreditAccountSnapshot }),
      });
      const restarted = new CreditAccountWriter(store, clock, { snapshots: behind, snapshotEvery: 1_000 });
      const folded = new CreditAccountWriter(store, clock);
      const all = range(0, 60);
      expect((await restarted.execute(reveal('rv-4', all), context)).answer).toMatchObject({ creditsCharged: 0 });
      expect(await windowsOf(restarted)).toEqual(await windowsOf(folded, all));
      expect((await windowsOf(restarted))[0]![1]).toHaveLength(2);
      await restarted.close();
      await folded.close();
    });

    it('leave memory past the limit once stored, including while later reveals are being stored, and stay free', async () => {
      await store.close();
      store = SqliteEventStore.open(join(dir, 'ledger.sqlite'), { appendThread: true });
      const slow = snapshotsWith(snapshots, {
        saveSnapshot: async (accountId, snapshot) => {
          await new Promise((resolve) => setTimeout(resolve, 15));
          await snapshots.saveSnapshot(accountId, snapshot);
        },
      });
      const writer = new CreditAccountWriter(store, clock, { snapshots: slow, snapshotEvery: 50, maxWindowsInMemory: 40 });
      await writer.execute(companyCredits, context);
      const waves: Promise<unknown>[] = [];
      for (let w = 0; w < 20; w++) {
        waves.push(Promise.all(Array.from({ length: 10 }, (_, r) => writer.execute(reveal(`rv-${w}-${r}`, range((w * 10 + r) * 5, 5)), context))));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      await Promise.all(waves);
      const all = range(0, 1_000);
      // Snapshots are stored in the background: wait (up to 5 s) for one to let windows leave.
      let held = (await windowsOf(writer)).length;
      for (const started = Date.now(); held === 1_000 && Date.now() - started < 5_000; held = (await windowsOf(writer)).length) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(held).toBeLessThan(1_000);
      const balance = async (by: CreditAccountWriter) => ((await by.execute(reveal(`probe-${Math.random()}`, all), context)).answer as RevealAnswer);
      const again = await balance(writer);
      expect(again.creditsCharged).toBe(0);
      expect(again.balances.company.available).toBe(100_000 - 1_000);
      await writer.close();
      const restarted = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 50 });
      expect((await balance(restarted)).creditsCharged).toBe(0);
      await restarted.close();
    });
  });

  describe('when a request id older than the snapshot is retried', () => {
    it('recognises it by an indexed lookup and gives the original answer, writing nothing', async () => {
      const first = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300 });
      const answers = await history(first, 1000);
      await idle(first);
      const head = (await collect(store.readStream('creditAccount-acct'))).length;

      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300 });
      now += 86_400_000;
      for (const i of [0, 17, 499, 899, 950]) {
        const retry = await writer.execute(charge('acct', `r-${i}`, 1 + (i % 3)), context);
        expect(retry.replayed).toBe(true);
        expect(retry.answer).toStrictEqual(answers[i]);
      }
      await expect(writer.execute(charge('acct', 'r-3', 7), context)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      expect((await collect(store.readStream('creditAccount-acct'))).length).toBe(head);
      await writer.close();
    });

    it('also once the entries left the memory of a writer that never restarted', async () => {
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300, maxEntriesInMemory: 100 });
      const answers = await history(writer, 700);
      // Once the snapshot after revision 600 is stored (in the background), its entries leave memory.
      await leftMemory(writer, 'request:r-10');
      const retry = await writer.execute(charge('acct', 'r-10', 1 + (10 % 3)), context);
      expect(retry).toEqual({ answer: answers[10], replayed: true });
      await writer.close();
    });
  });

  describe('while the keys of entries that just left memory are still being given to the filter', () => {
    it('answers a retry of any of them from the entries that left: nothing is charged twice', async () => {
      // One key a turn of the event loop, and one snapshot in the history: one leaving, still under way
      // when the retries, sent together, are decided.
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300, maxEntriesInMemory: 100, entriesLeavingPerTurn: 1 });
      const every = Number(snapshotEveryOf('acct', 300n));
      const givenToFilter = jest.spyOn(EntriesElsewhere.prototype, 'left');
      const answers = await history(writer, every + 50);
      const head = (await collect(store.readStream('creditAccount-acct'))).length;
      const state = await writer.read('acct', (s) => s);
      for (const started = Date.now(); state.idempotency.has('request:r-0') && Date.now() - started < 5_000; ) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(state.idempotency.has('request:r-0')).toBe(false);
      // The thread was not held to give them all at once.
      expect(givenToFilter.mock.calls.length).toBeLessThan(5);

      const retries = await Promise.all(answers.map((_, i) => writer.execute(charge('acct', `r-${i}`, 1 + (i % 3)), context)));
      retries.forEach((retry, i) => expect(retry).toEqual({ answer: answers[i], replayed: true }));
      expect((await collect(store.readStream('creditAccount-acct'))).length).toBe(head);
      // Every charge before the snapshot's capture left (the last 50 may have come after it).
      for (const started = Date.now(); givenToFilter.mock.calls.length < every - 50 && Date.now() - started < 5_000; ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(givenToFilter.mock.calls.length).toBeGreaterThanOrEqual(every - 50);
      givenToFilter.mockRestore();
      await writer.close();
    });

    it('refuses a slice of fewer than one key, which would never end', () => {
      for (const entriesLeavingPerTurn of [0, -1, 0.5, Number.NaN]) {
        expect(() => new CreditAccountWriter(store, clock, { snapshots, entriesLeavingPerTurn })).toThrow(RangeError);
      }
    });
  });

  describe('when entries leave memory while later commands of the account are still being stored', () => {
    it('keeps those commands\' entries: every retry is recognised and nothing is charged twice', async () => {
      // Storing a snapshot takes a while, and the account keeps deciding commands meanwhile.
      const slow = snapshotsWith(snapshots, {
        saveSnapshot: async (accountId, snapshot) => {
          await new Promise((resolve) => setTimeout(resolve, 15));
          await snapshots.saveSnapshot(accountId, snapshot);
        },
      });
      // Appends answered by a thread of their own, as in the app: some are in flight at any moment.
      await store.close();
      store = SqliteEventStore.open(join(dir, 'ledger.sqlite'), { appendThread: true });
      const writer = new CreditAccountWriter(store, clock, { snapshots: slow, snapshotEvery: 50, maxEntriesInMemory: 20 });
      await writer.execute(purchase('acct', 1_000_000), context);
      const waves: Promise<unknown>[] = [];
      for (let w = 0; w < 30; w++) {
        waves.push(Promise.all(Array.from({ length: 100 }, (_, i) => writer.execute(charge('acct', `w-${w * 100 + i}`, 1), context))));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      await Promise.all(waves);
      const retryAll = async (by: CreditAccountWriter) => {
        for (let i = 0; i < 3_000; i++) {
          const retry = await by.execute(charge('acct', `w-${i}`, 1), context);
          if (!retry.replayed) throw new Error(`request w-${i} was charged again`);
        }
      };
      await retryAll(writer);
      await writer.close();
      // After a restart, from a snapshot later than most of them: their entries were stored.
      const restarted = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 50 });
      await retryAll(restarted);
      await restarted.close();
      const events = await collect(store.readStream('creditAccount-acct'));
      expect(events.filter((e) => e.type === 'RecordsReturned')).toHaveLength(3_000);
    });
  });

  describe('when a busy account takes new request ids after its entries left memory', () => {
    it('looks none of them up in the store, and still recognises a retry of any key that left', async () => {
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300, maxEntriesInMemory: 100 });
      const answers = await history(writer, 700);
      await leftMemory(writer, 'request:r-10');

      const lookups = jest.spyOn(snapshots, 'findEntry');
      for (let i = 0; i < 500; i++) await writer.execute(charge('acct', `new-${i}`, 1), context);
      // A filter answers "perhaps" for about 1% of new keys; each of those is looked up.
      expect(lookups.mock.calls.length).toBeLessThan(25);
      for (let i = 0; i < 700; i += 7) {
        expect(await writer.execute(charge('acct', `r-${i}`, 1 + (i % 3)), context)).toEqual({ answer: answers[i], replayed: true });
      }
      lookups.mockRestore();
      await writer.close();
    });
  });

  describe('when an account loaded from a snapshot takes many new request ids', () => {
    it('asks the store for a filter of its keys after enough lookups, and recognises retries before and after', async () => {
      const first = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300 });
      const answers = await history(first, 1000);
      await idle(first);

      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 300, maxEntriesInMemory: 200 });
      const lookups = jest.spyOn(snapshots, 'findEntry');
      const builds = jest.spyOn(snapshots, 'storedKeys');
      expect(await writer.execute(charge('acct', 'r-5', 1 + (5 % 3)), context)).toEqual({ answer: answers[5], replayed: true });
      const fresh: RecordChargeAnswer[] = [];
      for (let i = 0; i < LOOKUPS_BEFORE_FILTER + 200; i += 50) {
        const batch = Array.from({ length: 50 }, (_, j) => writer.execute(charge('acct', `after-${i + j}`, 1), context));
        for (const { answer, replayed } of await Promise.all(batch)) {
          expect(replayed).toBe(false);
          fresh.push(answer as RecordChargeAnswer);
        }
      }
      expect(builds).toHaveBeenCalledTimes(1);
      // The filter comes from the snapshot thread: once it is here, new keys are no longer looked up.
      await builds.mock.results[0]!.value;
      const looked = lookups.mock.calls.length;
      expect(looked).toBeGreaterThanOrEqual(LOOKUPS_BEFORE_FILTER);
      for (let i = 0; i < 200; i++) await writer.execute(charge('acct', `later-${i}`, 1), context);
      expect(lookups.mock.calls.length - looked).toBeLessThan(15);
      // Keys from before the restart, and keys taken since (some of which have left memory by now).
      for (const i of [0, 17, 499, 999]) {
        expect(await writer.execute(charge('acct', `r-${i}`, 1 + (i % 3)), context)).toEqual({ answer: answers[i], replayed: true });
      }
      for (const i of [0, 100, LOOKUPS_BEFORE_FILTER + 150]) {
        expect(await writer.execute(charge('acct', `after-${i}`, 1), context)).toEqual({ answer: fresh[i], replayed: true });
      }
      lookups.mockRestore();
      builds.mockRestore();
      await writer.close();
    });
  });

  describe('a webhook refused before the snapshot and dispatched after it', () => {
    it('is charged once, and its retry after a restart gets the dispatch answer', async () => {
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 5, maxEntriesInMemory: 2 });
      const webhook: SubmittedCommand = { type: 'DispatchWebhook', accountId: 'acct', webhookEventId: 'e-1', webhookId: 'w', recordType: 'job' };
      await writer.execute(purchase('acct', 1, 'tiny'), context);
      await writer.execute(charge('acct', 'drain', 1), context);
      await expect(writer.execute(webhook, context)).rejects.toBeInstanceOf(LedgerError);
      for (let i = 0; i < 6; i++) await writer.execute(purchase('acct', 10 + i, `more-${i}`), context);
      await idle(writer);
      expect(snapshots.load('acct')).toBeDefined();

      const restarted = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 5 });
      const dispatched = await restarted.execute(webhook, context);
      expect(dispatched.replayed).toBe(false);
      expect((dispatched.answer as WebhookDispatchAnswer).creditsCharged).toBe(1);
      for (let i = 0; i < 6; i++) await restarted.execute(charge('acct', `x-${i}`, 1), context);
      await idle(restarted);

      const again = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 5 });
      const retry = await again.execute(webhook, context);
      expect(retry).toEqual({ answer: dispatched.answer, replayed: true });
      const events = await collect(store.readStream('creditAccount-acct'));
      expect(events.filter((e) => e.type === 'WebhookDispatched')).toHaveLength(1);
      await again.close();
    });
  });

  describe('a snapshot the stream does not agree with', () => {
    it('is ignored: a fresh store with an old snapshot file folds its own events', async () => {
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 10 });
      await history(writer, 100);
      await idle(writer);
      expect(snapshots.load('acct')).toBeDefined();

      const otherStore = SqliteEventStore.open(join(dir, 'other.sqlite'));
      const other = new CreditAccountWriter(otherStore, clock, { snapshots, snapshotEvery: 1000 });
      await expect(other.execute(charge('acct', 'r-0', 1), context)).rejects.toMatchObject({ code: 'ACCOUNT_NOT_FOUND' });
      await other.execute(purchase('acct', 5), context);
      const answer = (await other.execute(charge('acct', 'r-0', 2), context)).answer as RecordChargeAnswer;
      expect(answer.balances.api.available).toBe(3);
      await other.close();
      await otherStore.close();
    });
  });

  describe('snapshots of another version', () => {
    it('are invisible, entries included', async () => {
      const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 10 });
      await history(writer, 100);
      await idle(writer);
      const other = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { version: 999, writeThread });
      expect(other.load('acct')).toBeUndefined();
      expect(other.findEntry('acct', 'request:r-1')).toBeUndefined();
      expect(snapshots.findEntry('acct', 'request:r-1')).toBeDefined();
      other.close();
    });
  });

  describe('when a snapshot with reveal windows fails to be stored', () => {
    it('stores its windows with the next one', async () => {
      let refuse = true;
      let storedAfter = 0;
      const once = snapshotsWith(snapshots, {
        saveSnapshot: async (accountId, snapshot) => {
          if (refuse) {
            refuse = false;
            throw new Error('disk full');
          }
          await snapshots.saveSnapshot(accountId, snapshot);
          storedAfter += 1;
        },
      });
      const writer = new CreditAccountWriter(store, clock, { snapshots: once, snapshotEvery: 50 });
      await writer.execute({ type: 'PurchaseCredits', accountId: 'acct', purchaseId: 'co', creditType: 'company', credits: 1_000, paid: true, amountMinor: 100, currency: 'USD' }, context);
      // Reveals until a snapshot is stored after the refused one (the next is tried after a later append).
      for (let r = 0; r < 30 && storedAfter === 0; r++) {
        const companyIds = Array.from({ length: 30 }, (_, i) => `co-${r * 30 + i}`);
        await writer.execute({ type: 'RevealCompanies', accountId: 'acct', requestId: `rv-${r}`, companyIds, action: 'reveal', allowPartial: false }, context);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await writer.close();
      expect(refuse).toBe(false);
      expect(storedAfter).toBeGreaterThan(0);
      // Each event revealed one company, so the snapshot at revision R is stored with R windows: those the
      // refused snapshot was to store are among them.
      const stored = snapshots.load('acct')!;
      const revealed = Array.from({ length: 900 }, (_, i) => `co-${i}`);
      expect(snapshots.findWindows('acct', revealed).length).toBe(Number(stored.revision));
    });
  });

  describe('when a snapshot holds more entries than go to the store at a time', () => {
    it('sends each slice without waiting for the one before to be stored', async () => {
      let sent = 0;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const held = snapshotsWith(snapshots, {
        saveEntries: async (accountId, revision, entries) => {
          sent += 1;
          await gate;
          return snapshots.saveEntries(accountId, revision, entries);
        },
      });
      // Due at its first snapshot after 6,000 to 12,000 events: the purchase and this many charges make it so.
      const due = Number(snapshotEveryOf('acct', 12_000n));
      const writer = new CreditAccountWriter(store, clock, { snapshots: held, snapshotEvery: 12_000 });
      await history(writer, due);
      // At least two slices of 5,000; each sent a turn after the one before, none of them stored yet.
      for (const started = Date.now(); sent < Math.ceil(due / 5_000) && Date.now() - started < 2_000; ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(sent).toBe(Math.ceil(due / 5_000));
      open();
      await idle(writer);
      expect(snapshots.load('acct')!.revision).toBe(BigInt(due));
      expect(snapshots.findEntry('acct', 'request:r-0')).toBeDefined();
      expect(snapshots.findEntry('acct', `request:r-${due - 1}`)).toBeDefined();
    });
  });

  describe('when an account is charged faster than its entries are stored', () => {
    it('holds its commands once a bound of keys waits for the snapshot being stored, and goes on once it is', async () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let gated = 0;
      const slow = snapshotsWith(snapshots, {
        saveEntries: async (accountId, revision, entries) => {
          gated += 1;
          await gate;
          return snapshots.saveEntries(accountId, revision, entries);
        },
      });
      const writer = new CreditAccountWriter(store, clock, { snapshots: slow, snapshotEvery: 100, maxUnsavedEntries: 300, maxCommandsPerFlush: 50 });
      await writer.execute(purchase('acct', 1_000_000), context);
      let answered = 0;
      const charges = Array.from({ length: 1_000 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context).then(() => (answered += 1)));
      for (const started = Date.now(); gated === 0 && Date.now() - started < 2_000; ) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The first snapshot is captured after 50 to 100 events; then at most 300 keys and the group deciding.
      const capturedAt = Number(snapshotEveryOf('acct', 100n));
      expect(answered).toBeGreaterThanOrEqual(300);
      expect(answered).toBeLessThanOrEqual(capturedAt + 300 + 50);
      // Closing waits for the commands held as well as for those in flight.
      let closed = false;
      const closing = writer.close().then(() => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed).toBe(false);
      open();
      await closing;
      expect(answered).toBe(1_000);
      expect((await Promise.all(charges)).length).toBe(1_000);
      expect(snapshots.findEntry('acct', 'request:r-0')).toBeDefined();
      expect(snapshots.load('acct')!.revision).toBeGreaterThanOrEqual(BigInt(capturedAt + 300));
    });
  });

  describe('when the snapshot store refuses every write', () => {
    it('keeps deciding commands, and tries again only after later appends', async () => {
      let attempts = 0;
      const refusing: AccountSnapshots = {
        load: () => undefined,
        findEntry: () => undefined,
        findWindows: () => [],
        // Past 1,000 attempts it gives in, so that a writer retrying in a loop fails this test, not hangs it.
        saveEntries: async () => {
          attempts += 1;
          if (attempts <= 1_000) throw new Error('disk full');
        },
        saveSnapshot: async () => {
          if (attempts <= 1_000) throw new Error('disk full');
        },
        storedKeys: async () => {
          throw new Error('disk full');
        },
        close: async () => undefined,
      };
      const writer = new CreditAccountWriter(store, clock, { snapshots: refusing, snapshotEvery: 50 });
      await history(writer, 200);
      // The event loop was never starved by retries, and the writer still answers and closes.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(attempts).toBeGreaterThan(0);
      expect(attempts).toBeLessThan(200);
      const answer = await writer.execute(charge('acct', 'after', 1), context);
      expect(answer.replayed).toBe(false);
      await writer.close();
    });
  });
});

describe('snapshotEveryOf', () => {
  const ids = Array.from({ length: 1_000 }, (_, i) => `team-${i}`);

  it('is between half the interval and the interval, and the same for the same account', () => {
    const counts = ids.map((id) => snapshotEveryOf(id, 2_500n));
    expect(counts.every((n) => n > 1_250n && n <= 2_500n)).toBe(true);
    expect(ids.map((id) => snapshotEveryOf(id, 2_500n))).toEqual(counts);
  });

  it('spreads accounts over the range', () => {
    const counts = ids.map((id) => Number(snapshotEveryOf(id, 2_500n)));
    expect(new Set(counts).size).toBeGreaterThan(500);
    // About as many in each half of the range.
    const lower = counts.filter((n) => n <= 1_875).length;
    expect(lower).toBeGreaterThan(400);
    expect(lower).toBeLessThan(600);
  });

  it('is the interval itself when it is too short to spread', () => {
    expect(snapshotEveryOf('acct', 1n)).toBe(1n);
  });
});
