import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { creditAccountStream } from '#domain';
import { collect, SqliteEventStore, type EventStore } from '#event-store';
import { EventStoreDbEventStore } from '#event-store/eventstoredb';
import { EsdbTestServer } from '../../../../test/esdb-test-server/esdb-test-server.js';
import type { Clock } from '../clock/clock.port.js';
import { toProjectedEvent } from '../projections/projection-engine.js';
import { SqliteReadModelStore } from '../projections/read-model-store.js';
import { LEDGER_PROJECTIONS } from '../projections/index.js';
import { CreditAccountWriter } from '../write-path/credit-account.writer.js';
import { accountsWithExpiredLots, sweepExpiries } from './expiry-sweeper.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const clock: Clock = { now: () => NOW };
const context = { correlationId: 'c', actor: 'test' };

interface TwoInstances {
  readonly a: EventStore;
  readonly b: EventStore;
  close(): Promise<void>;
}

const setups: [string, () => Promise<TwoInstances>][] = [
  [
    'two processes on one SQLite file',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ledger-sweep-'));
      const a = SqliteEventStore.open(join(dir, 'events.sqlite'));
      const b = SqliteEventStore.open(join(dir, 'events.sqlite'));
      return { a, b, close: async () => { await a.close(); await b.close(); rmSync(dir, { recursive: true, force: true }); } };
    },
  ],
  [
    'two clients of one EventStoreDB',
    async () => {
      const server = await EsdbTestServer.start();
      const a = EventStoreDbEventStore.connect(server.connectionString);
      const b = EventStoreDbEventStore.connect(server.connectionString);
      return { a, b, close: async () => { await a.close(); await b.close(); await server.stop(); } };
    },
  ],
];

describe.each(setups)('the expiry sweep, run by %s at the same time', (_name, setup) => {
  let stores: TwoInstances;
  const run = Date.now().toString(36);
  const accounts = Array.from({ length: 40 }, (_, i) => `sweep-${run}-${i}`);
  /** Its trial expired too, but was spent to the last credit: nothing to record. */
  const spent = `sweep-${run}-spent`;

  beforeAll(async () => {
    stores = await setup();
    const writer = new CreditAccountWriter(stores.a, clock);
    await Promise.all(
      [...accounts, spent].map(async (accountId, i) => {
        await writer.execute(
          { type: 'PurchaseCredits', accountId, purchaseId: 'trial', creditType: 'api', credits: 100, paid: false, source: 'trial', expiresAt: NOW - DAY, occurredAt: NOW - 10 * DAY },
          context,
        );
        await writer.execute(
          { type: 'PurchaseCredits', accountId, purchaseId: 'pack', creditType: 'api', credits: 50, paid: true, amountMinor: 500, currency: 'USD', occurredAt: NOW - 9 * DAY },
          context,
        );
        await writer.execute(
          { type: 'ChargeRecords', accountId, requestId: 'r', endpoint: 'job_search', records: accountId === spent ? 100 : i, allowPartial: false, occurredAt: NOW - 8 * DAY },
          context,
        );
      }),
    );
    await writer.close();
  });

  afterAll(async () => {
    await stores.close();
  });

  /** The balances read model of everything stored so far. */
  async function balancesNow(): Promise<{ readModels: SqliteReadModelStore; done: () => void }> {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-sweep-rm-'));
    const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    const events = (await collect(stores.a.readAll())).map(toProjectedEvent).filter((e) => e !== undefined);
    readModels.applyBatch(LEDGER_PROJECTIONS, events);
    return { readModels, done: () => { readModels.close(); rmSync(dir, { recursive: true, force: true }); } };
  }

  it('finds the accounts from the balances index of next expiries, a page at a time', async () => {
    const { readModels, done } = await balancesNow();
    // Not the account whose expired trial was spent to the last credit.
    expect(new Set(await accountsWithExpiredLots(readModels, NOW))).toEqual(new Set(accounts));
    const paged = await accountsWithExpiredLots(readModels, NOW, 7);
    expect(paged).toHaveLength(accounts.length);
    expect(new Set(paged)).toEqual(new Set(accounts));
    expect(await accountsWithExpiredLots(readModels, NOW - 2 * DAY)).toEqual([]);
    done();
  });

  it('records each expired remainder exactly once, at its expiry instant', async () => {
    const a = new CreditAccountWriter(stores.a, clock);
    const b = new CreditAccountWriter(stores.b, clock);
    const [first, second] = await Promise.all([sweepExpiries(a, accounts, 'sweeper-a'), sweepExpiries(b, accounts, 'sweeper-b')]);
    expect(first.failures).toEqual([]);
    expect(second.failures).toEqual([]);
    expect(first.lots + second.lots).toBe(accounts.length);
    // The trial paid for the charges first (it expires soonest), so its remainder is 100 - i.
    expect(first.credits + second.credits).toBe(accounts.reduce((sum, _, i) => sum + 100 - i, 0));

    for (const [i, accountId] of accounts.entries()) {
      const events = await collect(stores.a.readStream(creditAccountStream(accountId)));
      const expired = events.filter((e) => e.type === 'CreditsExpired');
      expect(expired.map((e) => e.data)).toEqual([
        expect.objectContaining({ purchaseId: 'trial', credits: 100 - i, expiredAt: new Date(NOW - DAY).toISOString() }),
      ]);
      expect((expired[0]!.metadata as { occurredAt: string }).occurredAt).toBe(new Date(NOW - DAY).toISOString());
    }

    const again = await sweepExpiries(a, accounts, 'sweeper-a');
    expect(again).toMatchObject({ accounts: 0, lots: 0, credits: 0 });
    // Recorded, the expiries leave the index: the next due is the pack's, a year on.
    const { readModels, done } = await balancesNow();
    expect(await accountsWithExpiredLots(readModels, NOW)).toEqual([]);
    expect(new Set(await accountsWithExpiredLots(readModels, NOW + 400 * DAY))).toEqual(new Set([...accounts, spent]));
    done();
    await a.close();
    await b.close();
  });
});
