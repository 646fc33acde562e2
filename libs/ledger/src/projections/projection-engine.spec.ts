import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, SqliteEventStore } from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import { CreditAccountWriter } from '../write-path/credit-account.writer.js';
import Database from 'better-sqlite3';
import { balancesProjection, type AccountBalanceDoc } from './balances.projection.js';
import type { Projection } from './projection.js';
import { ProjectionEngine, projectStoredEvent, toProjectedEvent } from './projection-engine.js';
import { SqliteReadModelStore } from './read-model-store.js';
import { LEDGER_PROJECTIONS } from './index.js';

const clock: Clock = { now: () => Date.parse('2026-06-01T12:00:00.000Z') };
const context = { correlationId: 'c', actor: 'test' };

describe('ProjectionEngine', () => {
  let dir: string;
  let store: SqliteEventStore;
  let writer: CreditAccountWriter;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-projections-'));
    store = SqliteEventStore.open(join(dir, 'events.sqlite'));
    writer = new CreditAccountWriter(store, clock);
  });

  afterEach(async () => {
    await writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const buy = (accountId: string, credits: number) =>
    writer.execute({ type: 'PurchaseCredits', accountId, purchaseId: `p-${randomUUID()}`, creditType: 'api', credits, paid: true, amountMinor: 1, currency: 'USD' }, context);
  const charge = (accountId: string, records: number) =>
    writer.execute({ type: 'ChargeRecords', accountId, requestId: randomUUID(), endpoint: 'job_search', records, allowPartial: false }, context);
  const remaining = (readModels: SqliteReadModelStore, accountId: string) =>
    readModels.get<AccountBalanceDoc>('balances', accountId)?.doc.lots.reduce((sum, lot) => sum + lot.remaining, 0);
  const head = async () => (await store.headPosition())!.commit;

  it('follows history and live appends, and a query can wait for a position', async () => {
    await buy('a', 100);
    await charge('a', 10);
    const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS);
    engine.start();
    expect(await engine.waitFor(await head())).toBe(true);
    expect(remaining(readModels, 'a')).toBe(90);

    await Promise.all(Array.from({ length: 50 }, () => charge('a', 1)));
    expect(await engine.waitFor(await head())).toBe(true);
    expect(remaining(readModels, 'a')).toBe(40);
    await engine.stop();
    readModels.close();
  });

  it('survives a restart without skipping or applying an event twice', async () => {
    await buy('a', 1000);
    const file = join(dir, 'read-models.sqlite');
    let readModels = SqliteReadModelStore.open(file);
    let engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { batchSize: 7 });
    engine.start();
    await Promise.all(Array.from({ length: 40 }, () => charge('a', 1)));
    await engine.waitFor(await head());
    await engine.stop();
    readModels.close();

    await Promise.all(Array.from({ length: 25 }, () => charge('a', 2)));
    readModels = SqliteReadModelStore.open(file);
    expect(remaining(readModels, 'a')).toBe(960); // nothing applied while stopped
    engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { batchSize: 7 });
    engine.start();
    await engine.waitFor(await head());
    expect(remaining(readModels, 'a')).toBe(910);
    await engine.stop();
    readModels.close();
  });

  it('builds a new version of a projection from the first event, beside the others, and drops the old one', async () => {
    await buy('a', 100);
    await charge('a', 10);
    const file = join(dir, 'read-models.sqlite');
    // The balances as an earlier build had them: version 1, without the index of next expiries.
    const { indexOf: _index, ...withoutIndex } = balancesProjection;
    const older = [...LEDGER_PROJECTIONS.filter((p) => p !== balancesProjection), { ...withoutIndex, version: 1 }] as Projection<unknown>[];
    let readModels = SqliteReadModelStore.open(file);
    let engine = new ProjectionEngine(store, readModels, older);
    engine.start();
    await engine.waitFor(await head());
    await engine.stop();
    const oldTable = readModels.active('balances')!.table;
    readModels.close();

    await charge('a', 5);
    readModels = SqliteReadModelStore.open(file);
    engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS);
    engine.start();
    expect(await engine.waitFor(await head())).toBe(true);
    expect(remaining(readModels, 'a')).toBe(85);
    expect(readModels.active('balances')).toMatchObject({ version: balancesProjection.version });
    const expiresAt = Date.parse(readModels.get<AccountBalanceDoc>('balances', 'a')!.doc.lots[0]!.expiresAt);
    expect(readModels.indexed('balances', { upTo: expiresAt }, 10)).toEqual([{ key: 'a', indexed: expiresAt }]);
    await engine.stop();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM sqlite_master WHERE name = ?').pluck().get(oldTable)).toBe(0);
    db.close();
    readModels.close();
  });

  it('rebuilds a projection into a fresh table while the old one serves, then swaps and keeps following', async () => {
    await buy('a', 100);
    await Promise.all(Array.from({ length: 30 }, () => charge('a', 1)));
    const file = join(dir, 'read-models.sqlite');
    const readModels = SqliteReadModelStore.open(file);
    const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { batchSize: 5 });
    engine.start();
    await engine.waitFor(await head());
    const servingTable = readModels.active('balances')!.table;

    // Another process (the CLI) rebuilds from position 0 while this one keeps serving.
    const rebuilder = SqliteReadModelStore.open(file);
    const all = (await collect(store.readAll())).map(toProjectedEvent).filter((e) => e !== undefined);
    let appendedDuringRebuild = false;
    const result = await rebuilder.rebuild(
      [LEDGER_PROJECTIONS[0]!],
      (async function* () {
        yield all.slice(0, 10);
        expect(remaining(readModels, 'a')).toBe(70); // still served from the old table
        await charge('a', 5); // written during the rebuild
        appendedDuringRebuild = true;
        yield all.slice(10);
      })(),
      async (after) =>
        (await collect(store.readAll())).map(toProjectedEvent).filter((e) => e !== undefined && e.position > after) as never,
    );
    expect(appendedDuringRebuild).toBe(true);
    expect(result.events).toBe(32);
    expect(readModels.active('balances')!.table).not.toBe(servingTable);
    expect(remaining(rebuilder, 'a')).toBe(65);

    await charge('a', 1);
    await engine.waitFor(await head());
    expect(remaining(readModels, 'a')).toBe(64);
    await engine.stop();
    rebuilder.close();
    readModels.close();
  });

  describe.each([
    ['through a subscription', { readText: false }],
    ['reading text', { readText: true, pollIntervalMs: 10 }],
  ])('following %s', (_, mode) => {
    it('follows again from the checkpoints of a table rebuilt up to an event it had passed', async () => {
      await buy('a', 100);
      await Promise.all(Array.from({ length: 10 }, () => charge('a', 1)));
      const rebuiltUpTo = await head();
      await Promise.all(Array.from({ length: 5 }, () => charge('a', 1)));
      const file = join(dir, 'read-models.sqlite');
      const readModels = SqliteReadModelStore.open(file);
      const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, mode);
      engine.start();
      await engine.waitFor(await head());
      expect(remaining(readModels, 'a')).toBe(85);

      // Another process swaps in a rebuilt table whose last event is behind the one this engine applied.
      const rebuilder = SqliteReadModelStore.open(file);
      const upTo = (await collect(store.readAll())).map(toProjectedEvent).filter((e) => e !== undefined && e.position <= rebuiltUpTo);
      await rebuilder.rebuild([balancesProjection as Projection<unknown>], (async function* () { yield upTo as never; })(), async () => []);
      expect(readModels.active('balances')!.position).toBe(rebuiltUpTo);
      expect(remaining(readModels, 'a')).toBe(90);

      await charge('a', 1);
      engine.wake();
      await engine.waitFor(await head());
      expect(remaining(readModels, 'a')).toBe(84);
      await engine.stop();
      rebuilder.close();
      readModels.close();
    });
  });

  it('reading text, applies nothing of a page that holds an event it cannot decode, and says why', async () => {
    await buy('a', 100);
    const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    const errors: string[] = [];
    const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, pollIntervalMs: 10, retryDelayMs: 20, onError: (e) => errors.push(String(e)) });
    engine.start();
    expect(await engine.waitFor(await head())).toBe(true);
    await engine.stop();
    const before = engine.position();
    // One page: a charge the engine can fold, then an event of a type this ledger never wrote.
    await charge('a', 10);
    await store.appendToStream('creditAccount-a', [{ id: randomUUID(), type: 'CreditsTeleported', data: { credits: 5 } }], { expectedRevision: 'any' });
    const restarted = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, pollIntervalMs: 10, retryDelayMs: 20, onError: (e) => errors.push(String(e)) });
    restarted.start();
    expect(await restarted.waitFor(await head(), 300)).toBe(false);
    await restarted.stop();
    expect(errors.some((e) => e.includes('CreditsTeleported'))).toBe(true);
    expect(restarted.position()).toBe(before);
    expect(remaining(readModels, 'a')).toBe(100);
    readModels.close();
  });

  describe('when commits come while it is caught up', () => {
    it('lets them gather for gatherMs, then applies them as one batch', async () => {
      await buy('a', 100);
      const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
      const applied: bigint[] = [];
      const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, gatherMs: 1_000, onApplied: (p) => applied.push(p) });
      engine.start();
      await engine.waitFor(await head());
      for (let i = 0; i < 10; i++) {
        await charge('a', 1);
        engine.wake();
      }
      await engine.waitFor(await head());
      expect(applied).toEqual([applied[0], await head()]);
      expect(remaining(readModels, 'a')).toBe(90);
      await engine.stop();
      readModels.close();
    });

    it('applies each commit at once without gatherMs', async () => {
      await buy('a', 100);
      const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
      const applied: bigint[] = [];
      const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, onApplied: (p) => applied.push(p) });
      engine.start();
      await engine.waitFor(await head());
      for (let i = 0; i < 3; i++) {
        await charge('a', 1);
        engine.wake();
        expect(await engine.waitFor(await head(), 1_000)).toBe(true);
      }
      expect(applied).toHaveLength(4);
      await engine.stop();
      readModels.close();
    });

    it('gathers patientGatherMs while nobody waits, and a query that waits cuts the gathering short', async () => {
      await buy('a', 100);
      const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
      const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, gatherMs: 0, patientGatherMs: 60_000 });
      engine.start();
      expect(await engine.waitFor(await head(), 2_000)).toBe(true);
      for (let round = 1; round <= 3; round++) {
        // A commit that finds the engine idle is read at once; the engine then gathers what follows.
        await charge('a', 1);
        engine.wake();
        await new Promise((resolve) => setTimeout(resolve, 100));
        await charge('a', 1);
        engine.wake();
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Nobody asked: the charge waits in the gathering.
        expect(engine.position()).toBeLessThan(await head());
        expect(await engine.waitFor(await head(), 2_000)).toBe(true);
        expect(remaining(readModels, 'a')).toBe(100 - 2 * round);
      }
      await engine.stop();
      readModels.close();
    });

    it('stops without waiting for the end of its gathering', async () => {
      await buy('a', 100);
      const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
      const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, { readText: true, gatherMs: 60_000 });
      engine.start();
      await engine.waitFor(await head());
      const started = Date.now();
      await engine.stop();
      expect(Date.now() - started).toBeLessThan(5_000);
      readModels.close();
    });
  });
});

describe('an event read as text', () => {
  const data = JSON.stringify({ accountId: 'acct-1', purchaseId: 'p', creditType: 'api', credits: 1, paid: false, source: 'grant', purchasedAt: '2026-06-01T00:00:00.000Z', expiresAt: '2027-06-01T00:00:00.000Z', fingerprint: 'f' });
  const read = (metadata: string | null) =>
    projectStoredEvent({ position: 1n, streamId: 'creditAccount-acct-1', revision: 0n, type: 'CreditsPurchased', data, metadata })!;

  it.each([
    ['names no user', JSON.stringify({ correlationId: 'c', actor: { service: 'gateway', apiKeyId: 'k' }, schemaVersion: 1 }), undefined],
    ['names its actor user', JSON.stringify({ correlationId: 'c', actor: { service: 'gateway', userId: 'u-1' }, schemaVersion: 1 }), 'u-1'],
    ['spells the key with an escape', '{"actor":{"service":"gateway","\\u0075serId":"u-2"},"schemaVersion":1}', 'u-2'],
    ['has a userId elsewhere only', JSON.stringify({ correlationId: 'c', userId: 'u-3', actor: { service: 'gateway' } }), undefined],
    ['has no metadata', null, undefined],
  ])('gives the actor user of metadata that %s, as decoding it would', (_name, metadata, user) => {
    const event = read(metadata);
    expect(event.actorUserId).toBe(user);
    expect(event.actorUserId).toBe(read(metadata).metadata?.actor?.userId);
  });
});
