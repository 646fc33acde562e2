import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, yieldToForegroundThreads } from '#event-store';
import { EventStoreDbEventStore } from '#event-store/eventstoredb';
import { EsdbTestServer } from '../../../../test/esdb-test-server/esdb-test-server.js';
import type { Clock } from '../clock/clock.port.js';
import { backgroundThreads, onLinux } from '../testing/background-threads.js';
import { CreditAccountWriter } from '../write-path/credit-account.writer.js';
import type { AccountBalanceDoc } from './balances.projection.js';
import { ProjectionEngine, projectedPosition } from './projection-engine.js';
import { ProjectionThread, projectionThreadScript } from './projection-thread.js';
import { SqliteReadModelStore } from './read-model-store.js';
import { LEDGER_PROJECTIONS } from './index.js';

const clock: Clock = { now: () => Date.parse('2026-06-01T12:00:00.000Z') };
const context = { correlationId: 'c', actor: 'test' };

describe('ProjectionThread', () => {
  let dir: string;
  let eventsFile: string;
  let readModelsFile: string;
  let store: SqliteEventStore;
  let writer: CreditAccountWriter;
  let readModels: SqliteReadModelStore;
  const script = projectionThreadScript()!;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-projection-thread-'));
    eventsFile = join(dir, 'events.sqlite');
    readModelsFile = join(dir, 'read-models.sqlite');
    store = SqliteEventStore.open(eventsFile);
    writer = new CreditAccountWriter(store, clock);
    readModels = SqliteReadModelStore.open(readModelsFile);
  });

  afterEach(async () => {
    await writer.close();
    await store.close();
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const buy = (accountId: string, credits: number) =>
    writer.execute({ type: 'PurchaseCredits', accountId, purchaseId: `p-${randomUUID()}`, creditType: 'api', credits, paid: true, amountMinor: 1, currency: 'USD' }, context);
  const charge = (accountId: string, records: number) =>
    writer.execute({ type: 'ChargeRecords', accountId, requestId: randomUUID(), endpoint: 'job_search', records, allowPartial: false }, context);
  const remaining = (accountId: string) =>
    readModels.get<AccountBalanceDoc>('balances', accountId)?.doc.lots.reduce((sum, lot) => sum + lot.remaining, 0);
  const head = async () => (await store.headPosition())!.commit;
  const startThread = async (options: { pollIntervalMs?: number; gatherMs?: number; patientGatherMs?: number } = {}) => {
    const thread = new ProjectionThread(script, { source: { kind: 'sqlite', eventsFile, commitSignal: store.commitSignal }, readModelsFile, ...options }, projectedPosition(readModels, LEDGER_PROJECTIONS));
    await thread.start();
    return { thread, stop: () => thread.stop() };
  };

  it('has a compiled module to run', () => {
    expect(script).toBeInstanceOf(URL);
  });

  it('folds history and live appends in its own thread; queries here see what it reports', async () => {
    await buy('a', 100);
    await charge('a', 10);
    const { thread, stop } = await startThread();
    expect(thread.health).toEqual({ running: true, lastError: undefined });
    expect(await thread.waitFor(await head())).toBe(true);
    expect(remaining('a')).toBe(90);

    await Promise.all(Array.from({ length: 90 }, () => charge('a', 1)));
    expect(await thread.waitFor(await head())).toBe(true);
    expect(thread.position()).toBe(await head());
    expect(remaining('a')).toBe(0);
    await stop();
    expect(thread.health.running).toBe(false);
  });

  it('is told of appends through this process instead of waiting for its poll', async () => {
    await buy('a', 100);
    // A poll this slow would fail the wait below: only the signal can make it in time.
    const { thread, stop } = await startThread({ pollIntervalMs: 60_000 });
    await charge('a', 1);
    expect(await thread.waitFor(await head(), 2_000)).toBe(true);
    expect(remaining('a')).toBe(99);

    // Appends that come while the thread is busy folding wake nobody; it must still find every one.
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 1 + (round % 4) }, () => charge('a', 1)));
      expect(await thread.waitFor(await head(), 2_000)).toBe(true);
    }
    expect(remaining('a')).toBe(99 - 50);
    await stop();
  });

  it('gathers at length while nobody waits; a query that waits hurries it, however many come', async () => {
    await buy('a', 1_000);
    const { thread, stop } = await startThread({ gatherMs: 5, patientGatherMs: 60_000 });
    expect(await thread.waitFor(await head(), 2_000)).toBe(true);
    // A commit that finds the thread idle is read at once; the thread then gathers what follows.
    await charge('a', 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await charge('a', 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(thread.position()).toBeLessThan(await head());
    expect(await thread.waitFor(await head(), 2_000)).toBe(true);
    expect(remaining('a')).toBe(998);

    // A query that comes while the thread reads for an earlier one waits for events that read did not
    // bring: the thread is hurried again once it reports that batch, not left to gather at length.
    for (let round = 0; round < 10; round++) {
      await charge('a', 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await charge('a', 1);
      const first = thread.waitFor(await head(), 2_000);
      await charge('a', 1);
      const second = thread.waitFor(await head(), 2_000);
      expect(await first).toBe(true);
      expect(await second).toBe(true);
    }
    expect(remaining('a')).toBe(998 - 30);
    await stop();
  });

  it("is woken by the store's append thread, as in the app", async () => {
    const threaded = SqliteEventStore.open(eventsFile, { appendThread: true });
    const threadedWriter = new CreditAccountWriter(threaded, clock);
    const thread = new ProjectionThread(script, { source: { kind: 'sqlite', eventsFile, commitSignal: threaded.commitSignal }, readModelsFile, pollIntervalMs: 60_000 }, -1n);
    await thread.start();
    await threadedWriter.execute({ type: 'PurchaseCredits', accountId: 'a', purchaseId: 'p-1', creditType: 'api', credits: 100, paid: true, amountMinor: 1, currency: 'USD' }, context);
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 1 + (round % 3) }, () => threadedWriter.execute({ type: 'ChargeRecords', accountId: 'a', requestId: randomUUID(), endpoint: 'job_search', records: 1, allowPartial: false }, context)));
      expect(await thread.waitFor((await threaded.headPosition())!.commit, 2_000)).toBe(true);
    }
    expect(remaining('a')).toBe(100 - 19);
    await thread.stop();
    await threadedWriter.close();
    await threaded.close();
  });

  it('builds exactly the read models the engine in this thread builds', async () => {
    await buy('a', 1_000);
    await buy('b', 50);
    for (let i = 0; i < 20; i++) await Promise.all([charge('a', i + 1), charge('b', 2)]);
    const { thread, stop } = await startThread();
    expect(await thread.waitFor(await head())).toBe(true);
    await stop();

    const other = SqliteReadModelStore.open(join(dir, 'other-read-models.sqlite'));
    const engine = new ProjectionEngine(store, other, LEDGER_PROJECTIONS);
    engine.start();
    expect(await engine.waitFor(await head())).toBe(true);
    await engine.stop();
    for (const projection of LEDGER_PROJECTIONS) {
      for (const account of ['a', 'b']) {
        expect(readModels.range(projection.name, account, `${account}\uffff`)).toEqual(other.range(projection.name, account, `${account}\uffff`));
      }
    }
    other.close();
  });

  it('carries on from its checkpoint after a stop, without applying an event twice', async () => {
    await buy('a', 100);
    let running = await startThread();
    await charge('a', 5);
    expect(await running.thread.waitFor(await head())).toBe(true);
    await running.stop();

    await charge('a', 7);
    running = await startThread();
    expect(running.thread.position()).toBeLessThan(await head());
    expect(await running.thread.waitFor(await head())).toBe(true);
    expect(remaining('a')).toBe(88);
    await running.stop();
  });

  onLinux('runs at a lower priority than the threads that answer requests, and only it', async () => {
    const before = backgroundThreads();
    const { stop } = await startThread();
    expect(backgroundThreads()).toBe(before + 1);
    expect(getPriority(0)).toBe(0);
    await stop();
    expect(backgroundThreads()).toBe(before);
  });

  it('leaves the main thread as it is', () => {
    expect(yieldToForegroundThreads()).toBe(false);
    expect(getPriority(0)).toBe(0);
  });

  it('says why it cannot follow, and keeps trying', async () => {
    const errors: string[] = [];
    const thread = new ProjectionThread(
      script,
      { source: { kind: 'sqlite', eventsFile: join(dir, 'missing', 'events.sqlite'), commitSignal: store.commitSignal }, readModelsFile, retryDelayMs: 20, onError: (message) => errors.push(message) },
      -1n,
    );
    await thread.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(thread.health.lastError).toMatch(/projection thread/);
    expect(errors.length).toBeGreaterThan(1);
    await thread.stop();
    expect(thread.health.running).toBe(false);
  });
});

describe('ProjectionThread on an EventStoreDB', () => {
  let dir: string;
  let server: EsdbTestServer;
  let store: EventStoreDbEventStore;
  let writer: CreditAccountWriter;
  let readModels: SqliteReadModelStore;
  const account = `esdb-thread-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await EsdbTestServer.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-projection-thread-esdb-'));
    store = EventStoreDbEventStore.connect(server.connectionString);
    writer = new CreditAccountWriter(store, clock);
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  });

  afterEach(async () => {
    await writer.close();
    await store.close();
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows the store on its own connection: history, then every append by its subscription', async () => {
    const remaining = () => readModels.get<AccountBalanceDoc>('balances', account)?.doc.lots.reduce((sum, lot) => sum + lot.remaining, 0);
    const head = async () => (await store.headPosition())!.commit;
    await writer.execute({ type: 'PurchaseCredits', accountId: account, purchaseId: 'p', creditType: 'api', credits: 100, paid: true, amountMinor: 1, currency: 'USD' }, context);
    const thread = new ProjectionThread(
      projectionThreadScript()!,
      { source: { kind: 'eventstoredb', connectionString: server.connectionString }, readModelsFile: join(dir, 'read-models.sqlite') },
      projectedPosition(readModels, LEDGER_PROJECTIONS),
    );
    await thread.start();
    expect(await thread.waitFor(await head())).toBe(true);
    expect(remaining()).toBe(100);

    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 5 }, () => writer.execute({ type: 'ChargeRecords', accountId: account, requestId: randomUUID(), endpoint: 'job_search', records: 1, allowPartial: false }, context)));
      expect(await thread.waitFor(await head(), 2_000)).toBe(true);
    }
    expect(remaining()).toBe(50);
    expect(thread.health).toEqual({ running: true, lastError: undefined });
    await thread.stop();
    expect(thread.health.running).toBe(false);
  });
});
