import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { creditAccountStream, evolve, initialState, LedgerError, type RecordChargeAnswer } from '#domain';
import {
  collect,
  SqliteEventStore,
  StoreUnavailableError,
  type AppendOutcome,
  type AppendRequest,
  type EventStore,
} from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import { decodeEvent } from '../events/event-codec.js';
import { settleAll } from '../testing/settle-all.js';
import { charge, purchase, testContext } from '../testing/writer-commands.js';
import { CreditAccountWriter } from './credit-account.writer.js';

const context = testContext;
const clock: Clock = { now: () => Date.parse('2026-06-01T12:00:00.000Z') };

type Fault = 'refused' | 'lost-ack';

/**
 * A store whose appends take a while and are applied one after another in the order they were sent,
 * as a store writing in a thread of its own does: the writer then has several group commits in flight.
 * An append can be made to fail before it writes ("refused"), or after ("lost-ack": written, but the
 * writer is told it failed).
 */
class SlowStore {
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;
  private readonly faults = new Map<number, Fault>();
  private readonly before = new Map<number, (requests: readonly AppendRequest[]) => Promise<void>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly inner: EventStore,
    private readonly delayMs = 3,
  ) {}

  failCall(n: number, fault: Fault): void {
    this.faults.set(n, fault);
  }

  /** Runs `act` just before call `n` reaches the store (another writer getting there first, say). */
  beforeCall(n: number, act: (requests: readonly AppendRequest[]) => Promise<void>): void {
    this.before.set(n, act);
  }

  asStore(): EventStore {
    return new Proxy(this.inner, {
      get: (target, property, receiver) => {
        if (property === 'appendMany') return (requests: readonly AppendRequest[]) => this.appendMany(requests);
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  private appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const call = ++this.calls;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done = this.queue.then(async () => {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      await this.before.get(call)?.(requests);
      const fault = this.faults.get(call);
      if (fault === 'refused') throw new StoreUnavailableError('disk full');
      const outcomes = await this.inner.appendMany(requests);
      if (fault === 'lost-ack') throw new StoreUnavailableError('connection reset after the write');
      return outcomes;
    });
    this.queue = done.catch(() => undefined);
    return done.finally(() => (this.inFlight -= 1));
  }
}

describe('CreditAccountWriter with group commits in flight at once', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-pipeline-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What the stream says, folded from scratch, against what the writer holds. */
  async function foldedAvailable(accountId: string): Promise<number> {
    const state = initialState();
    for (const recorded of await collect(store.readStream(creditAccountStream(accountId)))) evolve(state, decodeEvent(recorded));
    return state.spendable.api.reduce((sum, lot) => sum + lot.remaining, 0);
  }

  async function revisions(accountId: string): Promise<number[]> {
    return (await collect(store.readStream(creditAccountStream(accountId)))).map((e) => Number(e.revision));
  }

  describe('when 1,000 charges race for a balance of 500 on one account', () => {
    it('decides the next groups on top of those being written, and still accepts exactly 500', async () => {
      const slow = new SlowStore(store);
      const writer = new CreditAccountWriter(slow.asStore(), clock, { maxCommandsPerFlush: 50 });
      await writer.execute(purchase('acct', 500), context);
      const { fulfilled, rejected } = await settleAll(Array.from({ length: 1000 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(slow.maxInFlight).toBeGreaterThan(1);
      expect(fulfilled).toHaveLength(500);
      expect(rejected.every((e) => e instanceof LedgerError && e.code === 'CREDITS_INSUFFICIENT')).toBe(true);
      const balances = fulfilled.map((f) => (f.answer as RecordChargeAnswer).balances.api.available);
      expect(new Set(balances).size).toBe(500);
      expect(Math.min(...balances)).toBe(0);
      expect(await revisions('acct')).toEqual(Array.from({ length: 501 }, (_, i) => i));
      await writer.close();
    });
  });

  describe('when an append is refused while the next ones, decided on top of it, are in flight', () => {
    it('fails only its own commands; the others are decided again on what was stored, and retries land once', async () => {
      const slow = new SlowStore(store);
      const writer = new CreditAccountWriter(slow.asStore(), clock, { maxCommandsPerFlush: 20 });
      await writer.execute(purchase('acct', 1000), context);
      slow.failCall(slow.calls + 2, 'refused');
      const { fulfilled, rejected } = await settleAll(Array.from({ length: 200 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(slow.maxInFlight).toBeGreaterThan(1);
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected.every((e) => e instanceof StoreUnavailableError)).toBe(true);
      expect(fulfilled.length + rejected.length).toBe(200);
      expect(await foldedAvailable('acct')).toBe(1000 - fulfilled.length);
      expect(await revisions('acct')).toEqual(Array.from({ length: fulfilled.length + 1 }, (_, i) => i));

      // Every refused charge, retried by key, is charged exactly once; the others are recognised.
      const retried = await Promise.all(Array.from({ length: 200 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(retried.filter((r) => !r.replayed)).toHaveLength(rejected.length);
      expect(await foldedAvailable('acct')).toBe(800);
      await writer.close();
    });
  });

  describe('when another writer takes the revisions of an append in flight, with as many events', () => {
    it('does not let the appends decided on top of it land on the other writer\'s events', async () => {
      const slow = new SlowStore(store);
      const writer = new CreditAccountWriter(slow.asStore(), clock, { maxCommandsPerFlush: 5 });
      const other = new CreditAccountWriter(store, clock);
      await writer.execute(purchase('acct', 100), context);
      // Before this writer's next append lands, the other one spends everything, in as many events.
      slow.beforeCall(slow.calls + 1, async (requests) => {
        const taken = requests.find((request) => request.streamId === creditAccountStream('acct'))!.events.length;
        for (let i = 0; i < taken; i++) await other.execute(charge('acct', `other-${i}`, i < taken - 1 ? 1 : 100 - (taken - 1)), context);
      });
      const { fulfilled, rejected } = await settleAll(Array.from({ length: 20 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(slow.maxInFlight).toBeGreaterThan(1);
      // Every charge of this writer is decided again on what was stored, and refused: nothing is left.
      expect(fulfilled).toHaveLength(0);
      expect(rejected.every((e) => e instanceof LedgerError && e.code === 'CREDITS_INSUFFICIENT')).toBe(true);
      expect(await foldedAvailable('acct')).toBe(0);
      const events = await collect(store.readStream(creditAccountStream('acct')));
      expect(events.filter((e) => e.type === 'RecordsReturned').map((e) => (e.data as { requestId: string }).requestId).every((id) => id.startsWith('other-'))).toBe(true);
      await writer.close();
      await other.close();
    });
  });

  describe('when an append is stored but its answer is lost', () => {
    it('lets the appends decided on top of it land, and a retry by key gets the stored answer', async () => {
      const slow = new SlowStore(store);
      const writer = new CreditAccountWriter(slow.asStore(), clock, { maxCommandsPerFlush: 20 });
      await writer.execute(purchase('acct', 1000), context);
      slow.failCall(slow.calls + 2, 'lost-ack');
      const { fulfilled, rejected } = await settleAll(Array.from({ length: 200 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected.every((e) => e instanceof StoreUnavailableError)).toBe(true);
      // Everything was stored, the commands whose answer was lost included.
      expect(await foldedAvailable('acct')).toBe(800);
      expect(fulfilled).toHaveLength(200 - rejected.length);

      const retried = await Promise.all(Array.from({ length: 200 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)));
      expect(retried.every((r) => r.replayed)).toBe(true);
      expect(await foldedAvailable('acct')).toBe(800);
      expect(await revisions('acct')).toEqual(Array.from({ length: 201 }, (_, i) => i));
      await writer.close();
    });
  });

  describe('when a retry arrives while the original is still being written', () => {
    it('is answered only once the original is stored, with its answer', async () => {
      const slow = new SlowStore(store, 30);
      const writer = new CreditAccountWriter(slow.asStore(), clock);
      await writer.execute(purchase('acct', 10), context);
      let originalDone = false;
      const original = writer.execute(charge('acct', 'same', 4), context).then((r) => ((originalDone = true), r));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const retry = await writer.execute(charge('acct', 'same', 4), context);
      expect(originalDone).toBe(true);
      expect(retry).toEqual({ answer: (await original).answer, replayed: true });
      await writer.close();
    });

    it('is decided again, and charged, if the original was never stored', async () => {
      const slow = new SlowStore(store, 30);
      const writer = new CreditAccountWriter(slow.asStore(), clock);
      await writer.execute(purchase('acct', 10), context);
      slow.failCall(slow.calls + 1, 'refused');
      const original = writer.execute(charge('acct', 'same', 4), context);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const retry = writer.execute(charge('acct', 'same', 4), context);
      await expect(original).rejects.toBeInstanceOf(StoreUnavailableError);
      const answered = await retry;
      expect(answered.replayed).toBe(false);
      expect((answered.answer as RecordChargeAnswer).balances.api.available).toBe(6);
      expect(await foldedAvailable('acct')).toBe(6);
      await writer.close();
    });
  });

  describe('when a refusal is decided on top of charges still being written', () => {
    it('is not answered before them, and is decided again if they were not stored', async () => {
      const slow = new SlowStore(store, 30);
      const writer = new CreditAccountWriter(slow.asStore(), clock);
      await writer.execute(purchase('acct', 10), context);
      slow.failCall(slow.calls + 1, 'refused');
      const spendAll = writer.execute(charge('acct', 'all', 10), context);
      await new Promise((resolve) => setTimeout(resolve, 5));
      // Decided while "all" is in flight, this would be refused; "all" is never stored, so it is charged.
      const one = writer.execute(charge('acct', 'one', 1), context);
      await expect(spendAll).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(((await one).answer as RecordChargeAnswer).balances.api.available).toBe(9);
      await writer.close();
    });
  });

  describe('when a refusal waits on an append that conflicts, and its own group is answered after the reload', () => {
    it('is decided again on the reloaded account, not left waiting', async () => {
      const slow = new SlowStore(store, 5);
      const writer = new CreditAccountWriter(slow.asStore(), clock);
      const other = new CreditAccountWriter(store, clock);
      await writer.execute(purchase('acct', 10), context);
      await writer.execute(purchase('elsewhere', 10), context);
      const first = slow.calls + 1;
      // Another writer gets to the account first: the first append conflicts, and its charge waits for a reload.
      slow.beforeCall(first, async () => {
        await other.execute(purchase('acct', 5, 'other-purchase'), context);
      });
      // The next group holds the refusal, decided on top of the first append, and another account's charge.
      // It is answered only once the account was reloaded and the first charge's new append is in flight.
      slow.beforeCall(first + 1, async () => {
        while (slow.calls < first + 2) await new Promise((resolve) => setTimeout(resolve, 1));
      });
      const spendAll = writer.execute(charge('acct', 'all', 10), context);
      while (slow.calls < first) await new Promise((resolve) => setImmediate(resolve));
      const tooMuch = writer.execute(charge('acct', 'too-much', 11), context);
      const charged = writer.execute(charge('elsewhere', 'e', 1), context);
      const never = new Promise((resolve) => setTimeout(() => resolve('never answered'), 3_000));
      // Decided again after the first charge, on the 15 credits the store holds: 5 are left, not 11.
      await expect(Promise.race([tooMuch, never])).rejects.toMatchObject({ code: 'CREDITS_INSUFFICIENT', details: { available: 5 } });
      expect(((await spendAll).answer as RecordChargeAnswer).balances.api.available).toBe(5);
      await charged;
      await writer.close();
      await other.close();
    });
  });

  describe('when many accounts are charged through a slow store', () => {
    it('keeps every stream at its own contiguous revisions and every balance equal to its events', async () => {
      const slow = new SlowStore(store, 2);
      const writer = new CreditAccountWriter(slow.asStore(), clock, { maxCommandsPerFlush: 100 });
      await Promise.all(Array.from({ length: 50 }, (_, i) => writer.execute(purchase(`a-${i}`, 1000), context)));
      slow.failCall(slow.calls + 3, 'refused');
      slow.failCall(slow.calls + 6, 'lost-ack');
      const { rejected } = await settleAll(Array.from({ length: 2000 }, (_, i) => writer.execute(charge(`a-${i % 50}`, `r-${i}`, 1 + (i % 3)), context)));
      expect(rejected.every((e) => e instanceof StoreUnavailableError)).toBe(true);
      await Promise.all(Array.from({ length: 2000 }, (_, i) => writer.execute(charge(`a-${i % 50}`, `r-${i}`, 1 + (i % 3)), context)));
      for (let a = 0; a < 50; a++) {
        const events = await collect(store.readStream(creditAccountStream(`a-${a}`)));
        expect(events.map((e) => Number(e.revision))).toEqual(events.map((_, i) => i));
        const charged = events.filter((e) => e.type === 'RecordsReturned').length;
        expect(charged).toBe(40);
        const held = await writer.read(`a-${a}`, (state) => state.spendable.api.reduce((sum, lot) => sum + lot.remaining, 0));
        expect(held).toBe(await foldedAvailable(`a-${a}`));
      }
      await writer.close();
    });
  });
});
