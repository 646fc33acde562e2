import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { creditAccountStream, LedgerError, type RecordChargeAnswer } from '#domain';
import {
  collect,
  SqliteEventStore,
  StoreUnavailableError,
  type AppendRequest,
  type EventStore,
  type ReadStreamOptions,
} from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import { settleAll } from '../testing/settle-all.js';
import { charge, purchase, testContext } from '../testing/writer-commands.js';
import { CreditAccountWriter } from './credit-account.writer.js';

const context = testContext;
const clock: Clock = { now: () => Date.parse('2026-06-01T12:00:00.000Z') };

/** Counts the store calls the writer makes, and can be told to fail them. */
class ObservedStore {
  appendCalls = 0;
  failNext = 0;
  constructor(readonly inner: EventStore) {}
  asStore(): EventStore {
    return new Proxy(this.inner, {
      get: (target, property, receiver) => {
        if (property === 'appendMany') {
          return async (requests: readonly AppendRequest[]) => {
            this.appendCalls += 1;
            if (this.failNext > 0) {
              this.failNext -= 1;
              throw new StoreUnavailableError('disk unplugged');
            }
            return target.appendMany(requests);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}

describe('CreditAccountWriter', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-writer-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when 1,000 charges race for a balance of 500', () => {
    it('accepts exactly 500, refuses the rest with CREDITS_INSUFFICIENT, and never goes below zero', async () => {
      const writer = new CreditAccountWriter(store, clock);
      await writer.execute(purchase('acct', 500), context);
      const { fulfilled, rejected } = await settleAll(
        Array.from({ length: 1000 }, (_, i) => writer.execute(charge('acct', `r-${i}`), context)),
      );
      expect(fulfilled).toHaveLength(500);
      expect(rejected).toHaveLength(500);
      expect(rejected.every((e) => e instanceof LedgerError && e.code === 'CREDITS_INSUFFICIENT')).toBe(true);
      const balances = fulfilled.map((f) => (f.answer as RecordChargeAnswer).balances.api.available);
      expect(Math.min(...balances)).toBe(0);
      expect(new Set(balances).size).toBe(500); // every accepted charge saw its own balance
      const events = await collect(store.readStream(creditAccountStream('acct')));
      expect(events.filter((e) => e.type === 'RecordsReturned')).toHaveLength(500);
      await writer.close();
    });
  });

  describe('when the same request id arrives 50 times at once', () => {
    it('charges it once and gives every caller the same answer', async () => {
      const writer = new CreditAccountWriter(store, clock);
      await writer.execute(purchase('acct', 100), context);
      const results = await Promise.all(Array.from({ length: 50 }, () => writer.execute(charge('acct', 'same', 3), context)));
      expect(new Set(results.map((r) => JSON.stringify(r.answer))).size).toBe(1);
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      const events = await collect(store.readStream(creditAccountStream('acct')));
      expect(events.map((e) => e.type)).toEqual(['CreditsPurchased', 'RecordsReturned']);
      await writer.close();
    });
  });

  describe('when many accounts are charged at once', () => {
    it('commits their events in a few group commits, each stream at its own revisions', async () => {
      const observed = new ObservedStore(store);
      const writer = new CreditAccountWriter(observed.asStore(), clock);
      await Promise.all(Array.from({ length: 200 }, (_, i) => writer.execute(purchase(`a-${i}`, 10), context)));
      const before = observed.appendCalls;
      await Promise.all(
        Array.from({ length: 2000 }, (_, i) => writer.execute(charge(`a-${i % 200}`, `r-${i}`), context)),
      );
      expect(observed.appendCalls - before).toBeLessThan(20);
      for (const i of [0, 57, 199]) {
        const events = await collect(store.readStream(creditAccountStream(`a-${i}`)));
        expect(events.map((e) => Number(e.revision))).toEqual(Array.from({ length: 11 }, (_, k) => k));
      }
      await writer.close();
    });
  });

  describe('when another instance writes the same account', () => {
    it('detects the conflict, catches up and decides again, so the balance is never overspent', async () => {
      const other = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
      const a = new CreditAccountWriter(store, clock);
      const b = new CreditAccountWriter(other, clock);
      await a.execute(purchase('shared', 10), context);
      // b caches the state first, then a moves the stream on behind b's back.
      await b.execute(charge('shared', 'b-1'), context);
      await a.execute(charge('shared', 'a-1'), context);
      const outcomes = await settleAll(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).execute(charge('shared', `x-${i}`), context)),
      );
      expect(outcomes.fulfilled).toHaveLength(8);
      const events = await collect(store.readStream(creditAccountStream('shared')));
      const charged = events.filter((e) => e.type === 'RecordsReturned').length;
      expect(charged).toBe(10);
      await a.close();
      await b.close();
      await other.close();
    });
  });

  describe('when another instance moved the account on, and this one would answer without writing', () => {
    let other: SqliteEventStore;
    let a: CreditAccountWriter;
    let b: CreditAccountWriter;

    beforeEach(async () => {
      other = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
      a = new CreditAccountWriter(store, clock);
      b = new CreditAccountWriter(other, clock);
      await a.execute(purchase('shared', 3, 'p-first'), context);
      await a.execute(charge('shared', 'drain', 3), context);
      // a caches the account with nothing left; b then buys credits and spends them behind a's back.
      await b.execute(purchase('shared', 3, 'p-second'), context);
    });

    afterEach(async () => {
      await a.close();
      await b.close();
      await other.close();
    });

    it("gives a retry of the other instance's charge its answer, not a refusal", async () => {
      const charged = await b.execute(charge('shared', 'r-1', 3), context);
      expect(await a.execute(charge('shared', 'r-1', 3), context)).toEqual({ answer: charged.answer, replayed: true });
    });

    it('charges a new request the balance it cannot see yet can pay', async () => {
      const { answer } = await a.execute(charge('shared', 'r-2', 2), context);
      expect((answer as RecordChargeAnswer).balances.api.available).toBe(1);
    });

    it('refuses what the balance cannot pay once it has caught up, and reads what the store holds', async () => {
      await b.execute(charge('shared', 'r-1', 3), context);
      await expect(a.execute(charge('shared', 'r-3', 1), context)).rejects.toMatchObject({ code: 'CREDITS_INSUFFICIENT' });
      expect(await a.read('shared', (state) => state.idempotency.has('request:r-1'))).toBe(true);
    });
  });

  describe('when an account must be loaded from the store', () => {
    it('decides the accounts already in memory without waiting for it, in the same group commit or not', async () => {
      const seed = new CreditAccountWriter(store, clock);
      await seed.execute(purchase('cold', 10), context);
      await seed.close();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      // Reads of the cold account's stream wait for the gate, as a long fold after a restart would.
      const gated = new Proxy(store as EventStore, {
        get: (target, property, receiver) => {
          if (property === 'readStream') {
            return async function* (streamId: string, options?: ReadStreamOptions) {
              if (streamId === creditAccountStream('cold')) await gate;
              yield* target.readStream(streamId, options);
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const writer = new CreditAccountWriter(gated, clock);
      await writer.execute(purchase('hot', 100), context);

      // Sent in the same turn, so one group commit takes both accounts; then more for the hot one alone.
      const cold = writer.execute(charge('cold', 'c-1'), context);
      const first = writer.execute(charge('hot', 'h-1'), context);
      const hot = (async () => {
        await first;
        for (let i = 2; i <= 8; i++) await writer.execute(charge('hot', `h-${i}`), context);
        return 'answered';
      })();
      try {
        expect(await Promise.race([hot, new Promise((resolve) => setTimeout(resolve, 2_000, 'held up'))])).toBe('answered');
      } finally {
        release();
      }
      expect(((await cold).answer as RecordChargeAnswer).balances.api.available).toBe(9);
      await hot;
      await writer.close();
    });
  });

  describe('when the store fails an append', () => {
    it('rejects the commands with the store error and later decisions see only what was stored', async () => {
      const observed = new ObservedStore(store);
      const writer = new CreditAccountWriter(observed.asStore(), clock);
      await writer.execute(purchase('acct', 5), context);
      observed.failNext = 1;
      await expect(writer.execute(charge('acct', 'lost', 2), context)).rejects.toBeInstanceOf(StoreUnavailableError);
      const retried = await writer.execute(charge('acct', 'lost', 2), context);
      expect(retried.replayed).toBe(false);
      expect((retried.answer as RecordChargeAnswer).balances.api.available).toBe(3);
      await writer.close();
    });
  });

  describe('when commands are timed', () => {
    it('tells each command once, as it is answered, with how it ended', async () => {
      const observed = new ObservedStore(store);
      const settled: [string, string][] = [];
      const seconds: number[] = [];
      const writer = new CreditAccountWriter(observed.asStore(), clock, {
        onCommandSettled: (type, outcome, s) => {
          settled.push([type, outcome]);
          seconds.push(s);
        },
      });
      await writer.execute(purchase('acct', 5), context);
      await writer.execute(charge('acct', 'r-1', 2), context);
      await writer.execute(charge('acct', 'r-1', 2), context);
      await expect(writer.execute(charge('acct', 'too-many', 10), context)).rejects.toBeInstanceOf(LedgerError);
      observed.failNext = 1;
      await expect(writer.execute(charge('acct', 'lost', 1), context)).rejects.toBeInstanceOf(StoreUnavailableError);
      // A read is not a command.
      await writer.read('acct', () => undefined);
      await writer.close();
      await expect(writer.execute(charge('acct', 'after-close', 1), context)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(settled).toEqual([
        ['PurchaseCredits', 'recorded'],
        ['ChargeRecords', 'recorded'],
        ['ChargeRecords', 'replayed'],
        ['ChargeRecords', 'refused'],
        ['ChargeRecords', 'unavailable'],
        ['ChargeRecords', 'unavailable'],
      ]);
      expect(seconds.every((s) => s >= 0 && s < 10)).toBe(true);
      // A durable append takes time: the first command's seconds are not a constant.
      expect(seconds[0]).toBeGreaterThan(0);
    });

    it('counts a command that failed otherwise as failed', async () => {
      const settled: string[] = [];
      const broken = new Proxy(store as EventStore, {
        get: (target, property, receiver) =>
          property === 'readStream'
            ? () => {
                throw new TypeError('a bug in the store');
              }
            : Reflect.get(target, property, receiver),
      });
      const writer = new CreditAccountWriter(broken, clock, { onCommandSettled: (_type, outcome) => settled.push(outcome) });
      await expect(writer.execute(charge('acct', 'r'), context)).rejects.toBeInstanceOf(TypeError);
      await writer.close();
      expect(settled).toEqual(['failed']);
    });
  });

  describe('reads', () => {
    it('see every command submitted before them, and a restart rebuilds the same state from the stream', async () => {
      const writer = new CreditAccountWriter(store, clock);
      void writer.execute(purchase('acct', 50), context);
      void writer.execute(charge('acct', 'r-1', 20), context);
      const available = await writer.read('acct', (state, now) => state.spendable.api.reduce((n, lot) => n + (lot.expiresAt > now ? lot.remaining : 0), 0));
      expect(available).toBe(30);
      await writer.close();

      const restarted = new CreditAccountWriter(store, clock);
      const replay = await restarted.execute(charge('acct', 'r-1', 20), context);
      expect(replay.replayed).toBe(true);
      expect((replay.answer as RecordChargeAnswer).balances.api.available).toBe(30);
      await restarted.close();
    });

    it('evicts idle accounts beyond the cache size and reloads them on demand', async () => {
      const writer = new CreditAccountWriter(store, clock, { maxCachedAccounts: 10 });
      await Promise.all(Array.from({ length: 50 }, (_, i) => writer.execute(purchase(`e-${i}`, 5), context)));
      await new Promise((r) => setImmediate(r));
      expect(writer.cachedAccounts).toBeLessThanOrEqual(10);
      const answer = await writer.execute(charge('e-3', 'after-eviction', 2), context);
      expect((answer.answer as RecordChargeAnswer).balances.api.available).toBe(3);
      await writer.close();
    });

    it('evicts the account used least recently, not the one loaded first', async () => {
      const writer = new CreditAccountWriter(store, clock, { maxCachedAccounts: 3 });
      for (const id of ['a', 'b', 'c']) await writer.execute(purchase(id, 5), context);
      await writer.execute(charge('a', 'a-again', 1), context);
      await writer.execute(purchase('d', 5), context);
      await writer.execute(purchase('e', 5), context);
      // An evicted account has no position in memory.
      expect(['a', 'b', 'c', 'd', 'e'].filter((id) => writer.lastPosition(id) !== undefined)).toEqual(['a', 'd', 'e']);
      await writer.close();
    });
  });
});
