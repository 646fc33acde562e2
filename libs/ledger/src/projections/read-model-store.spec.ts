import { jest } from '@jest/globals';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CreditAccountEvent } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';
import { SqliteReadModelStore } from './read-model-store.js';
import { WriteTurns } from './write-turns.js';

interface Tally {
  readonly events: number[];
}

/** Remembers, per account, the positions of the events folded into it; the event at position 20 cannot be folded. */
const tally: Projection<Tally> = {
  name: 'tally',
  version: 1,
  keysOf: (event) => [event.accountId],
  evolve: (doc, event) => ({ events: [...(doc?.events ?? []), Number(event.position)] }),
  evolveInPlace: (doc, event) => {
    if (event.position === 20n) throw new Error('cannot fold event 20');
    const folded = doc ?? { events: [] };
    folded.events.push(Number(event.position));
    return folded;
  },
};

function event(position: number, accountId = 'a'): ProjectedEvent {
  return { position: BigInt(position), accountId, revision: 0n, event: {} as CreditAccountEvent, occurredAt: 0, metadata: undefined, actorUserId: undefined };
}

describe('SqliteReadModelStore following the store', () => {
  let dir: string;
  let file: string;
  let store: SqliteReadModelStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-read-models-'));
    file = join(dir, 'read-models.sqlite');
    store = SqliteReadModelStore.open(file, { maxLiveDocs: 2 });
    store.ensure(tally as Projection<unknown>);
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = (accountId: string) => store.get<Tally>('tally', accountId)?.doc.events;

  it('keeps only the documents it may hold in memory, and folds every one of them right', () => {
    for (let p = 1; p <= 12; p++) store.applyBatch([tally as Projection<unknown>], [event(p, `acct-${p % 5}`)]);
    for (let k = 0; k < 5; k++) expect(events(`acct-${k}`)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].filter((p) => p % 5 === k));
  });

  it('keeps the documents written again over those written once before them, when it must let some go', () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      store.applyBatch([tally as Projection<unknown>], [event(1, 'a'), event(2, 'b')]);
      store.applyBatch([tally as Projection<unknown>], [event(3, 'a')]);
      // A third document: one must go, and it is b, written once and not since.
      store.applyBatch([tally as Projection<unknown>], [event(4, 'c')]);
      parse.mockClear();
      store.applyBatch([tally as Projection<unknown>], [event(5, 'a')]);
      expect(parse).not.toHaveBeenCalled();
      store.applyBatch([tally as Projection<unknown>], [event(6, 'b')]);
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
    expect([events('a'), events('b'), events('c')]).toEqual([[1, 3, 5], [2, 6], [4]]);
  });

  it('does not bring back a document the projection deleted', () => {
    // Folds positions like the tally, and deletes the document at position 5.
    const resettable: Projection<Tally> = {
      ...tally,
      name: 'resettable',
      evolveInPlace: (doc, e) => (e.position === 5n ? undefined : tally.evolveInPlace!(doc, e, e.accountId)),
    };
    const projections = [resettable as Projection<unknown>];
    store.applyBatch(projections, [event(1), event(2)]);
    store.applyBatch(projections, [event(5)]);
    expect(store.get('resettable', 'a')).toBeUndefined();
    store.applyBatch(projections, [event(6)]);
    expect(store.get<Tally>('resettable', 'a')?.doc.events).toEqual([6]);
  });

  it('reads a document again once another connection has written the file', () => {
    store.applyBatch([tally as Projection<unknown>], [event(1), event(2)]);
    // Another instance on the same file folds the next event first.
    const other = SqliteReadModelStore.open(file);
    other.applyBatch([tally as Projection<unknown>], [event(3)]);
    other.close();
    store.applyBatch([tally as Projection<unknown>], [event(3), event(4)]);
    expect(events('a')).toEqual([1, 2, 3, 4]);
  });

  it('returns the positions a batch reached, and writes nothing when a checkpoint is not the one expected', () => {
    const projections = [tally as Projection<unknown>];
    expect(store.applyBatch(projections, [event(1), event(2)], new Map([['tally', -1n]]))).toEqual(new Map([['tally', 2n]]));
    // Another connection swapped in a table rebuilt up to 1 meanwhile: the caller must follow from there.
    expect(store.applyBatch(projections, [event(3)], new Map([['tally', 1n]]))).toBeUndefined();
    expect(events('a')).toEqual([1, 2]);
    expect(store.active('tally')!.position).toBe(2n);
    expect(store.applyBatch(projections, [event(3)], new Map([['tally', 2n]]))).toEqual(new Map([['tally', 3n]]));
    expect(events('a')).toEqual([1, 2, 3]);
  });

  it('forgets what it folded for a batch that failed', () => {
    store.applyBatch([tally as Projection<unknown>], [event(11), event(12)]);
    // Event 15 is folded into the document in memory before event 20 fails the batch.
    expect(() => store.applyBatch([tally as Projection<unknown>], [event(15), event(20)])).toThrow('cannot fold event 20');
    store.applyBatch([tally as Projection<unknown>], [event(16)]);
    expect(events('a')).toEqual([11, 12, 16]);
  });

  it('takes each event through every projection before it takes the next', () => {
    const steps: string[] = [];
    const noting = (name: string): Projection<Tally> => ({
      ...tally,
      name,
      evolveInPlace: (doc, e, key) => {
        steps.push(`${name} folds ${e.position}`);
        return tally.evolveInPlace!(doc, e, key);
      },
    });
    const projections = [noting('first') as Projection<unknown>, noting('second') as Projection<unknown>];
    function* pulled() {
      for (const position of [1, 2, 3]) {
        steps.push(`event ${position} taken`);
        yield event(position);
      }
    }
    expect(store.applyBatch(projections, pulled())).toEqual(new Map([['first', 3n], ['second', 3n]]));
    expect(steps).toEqual([1, 2, 3].flatMap((p) => [`event ${p} taken`, `first folds ${p}`, `second folds ${p}`]));
    expect(store.get<Tally>('second', 'a')?.doc.events).toEqual([1, 2, 3]);
  });

  it('writes nothing when the events stop coming with an error halfway (an event that cannot be decoded)', () => {
    store.applyBatch([tally as Projection<unknown>], [event(1)]);
    function* failing() {
      yield event(2, 'a');
      yield event(3, 'b');
      throw new Error('event 4 cannot be decoded');
    }
    expect(() => store.applyBatch([tally as Projection<unknown>], failing())).toThrow('event 4 cannot be decoded');
    expect(store.active('tally')!.position).toBe(1n);
    expect([events('a'), events('b')]).toEqual([[1], undefined]);
    store.applyBatch([tally as Projection<unknown>], [event(2, 'a'), event(3, 'b')]);
    expect([events('a'), events('b')]).toEqual([[1, 2], [3]]);
  });
});

describe('a rebuild sharing the read models with other threads', () => {
  let dir: string;
  let store: SqliteReadModelStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-rebuild-turns-'));
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes its documents only in its turn, and folds on while another thread writes', () => {
    const cell = WriteTurns.shared();
    const otherThread = WriteTurns.of(cell);
    const rebuild = store.beginRebuild([tally as Projection<unknown>], { maxCachedDocs: 2, writeTurns: WriteTurns.of(cell) });
    const rows = () => {
      const db = new Database(join(dir, 'read-models.sqlite'), { readonly: true });
      try {
        return db.prepare(`SELECT count(*) FROM "${rebuild.tables[0]}"`).pluck().get() as number;
      } finally {
        db.close();
      }
    };

    expect(otherThread.tryTake()).toBe(true);
    rebuild.add([event(1, 'a'), event(2, 'b'), event(3, 'c')]);
    rebuild.add([event(4, 'd')]);
    expect(rows()).toBe(0); // over its cache, but not its turn: nothing written, nothing lost
    otherThread.give();

    rebuild.add([event(5, 'a')]);
    expect(rows()).toBe(4); // its turn: every changed document written, the cache emptied
    expect(otherThread.tryTake()).toBe(true); // and the turn given back
    otherThread.give();

    rebuild.add([event(6, 'e'), event(7, 'f')]);
    rebuild.flush();
    expect(rows()).toBe(6);
    expect(otherThread.tryTake()).toBe(true);
  });

  it('waits for its turn once its cache is twice the size it may be', async () => {
    const cell = WriteTurns.shared();
    const otherThread = WriteTurns.of(cell);
    expect(otherThread.tryTake()).toBe(true);
    // The other holder gives the turn back from another thread after 200 ms; until then this one blocks.
    const giver = new Worker(`const [cell] = require('node:worker_threads').workerData; setTimeout(() => { Atomics.store(cell, 0, 0); Atomics.notify(cell, 0); }, 200);`, { eval: true, workerData: [cell] });
    const rebuild = store.beginRebuild([tally as Projection<unknown>], { maxCachedDocs: 1, writeTurns: WriteTurns.of(cell) });
    const started = Date.now();
    rebuild.add([event(1, 'a'), event(2, 'b'), event(3, 'c')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await once(giver, 'exit');
  });
});

/**
 * Counts an account's events, indexed by a value that changes on some events and not on others, and
 * comes back to an earlier one: 100 after one event, 99 after two or three, 100 after four, none after five.
 */
const counted: Projection<{ count: number }> = {
  name: 'counted',
  version: 1,
  keysOf: (event) => [event.accountId],
  evolve: (doc) => ({ count: (doc?.count ?? 0) + 1 }),
  indexOf: ({ count }) => (count >= 5 ? undefined : count === 2 || count === 3 ? 99 : 100),
};

describe('a projection with an index', () => {
  let dir: string;
  let store: SqliteReadModelStore;
  const projections = [counted as Projection<unknown>];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-read-model-index-'));
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Accounts a-1..a-5 get 1..5 events, one event a batch, interleaved. */
  const history = () => {
    const events: ProjectedEvent[] = [];
    for (let round = 1; round <= 5; round++) for (let a = round; a <= 5; a++) events.push(event(events.length + 1, `a-${a}`));
    return events;
  };
  const expected = [
    { key: 'a-2', indexed: 99 },
    { key: 'a-3', indexed: 99 },
    { key: 'a-1', indexed: 100 },
    { key: 'a-4', indexed: 100 },
  ];

  function checkIndex(): void {
    expect(store.indexed('counted', { upTo: 1_000 }, 10)).toEqual(expected);
    expect(store.indexed('counted', { upTo: 99 }, 10)).toEqual(expected.slice(0, 2));
    expect(store.indexed('counted', { upTo: 98 }, 10)).toEqual([]);
    // Pages follow on from the last key of the one before.
    const first = store.indexed('counted', { upTo: 1_000 }, 3);
    expect([...first, ...store.indexed('counted', { upTo: 1_000 }, 3, first[2])]).toEqual(expected);
    for (const { key, doc, indexed } of store.entries<{ count: number }>('counted')) {
      expect({ key, indexed }).toEqual({ key, indexed: counted.indexOf!(doc) ?? null });
    }
  }

  it.each([
    ['with documents kept in memory', 50],
    ['reading every document back from its row', 0],
  ])('keeps it in step with its documents as it follows the store, %s', (_name, maxLiveDocs) => {
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'), { maxLiveDocs });
    store.ensure(counted as Projection<unknown>);
    for (const e of history()) store.applyBatch(projections, [e]);
    checkIndex();
  });

  it('keeps it in step in a rebuild, across writes of the documents with and without evictions', async () => {
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    const rebuild = store.beginRebuild(projections, { maxCachedDocs: 2 });
    const events = history();
    // The first half with evictions; then, in the catch-up, each event written with the cache kept.
    for (const e of events.slice(0, 7)) rebuild.add([e]);
    const rest = events.slice(7);
    await rebuild.finish(async () => rest.splice(0, 1));
    checkIndex();
  });

  it('keeps it in step in a rebuild when a document read back from its row is written several times', async () => {
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    const rebuild = store.beginRebuild(projections, { maxCachedDocs: 2 });
    // Three documents: over the cache, so they are written and evicted.
    rebuild.add([event(1, 'a-4'), event(2, 'a-1'), event(3, 'a-2')]);
    // a-4 is read back (100 in its row), then written after each event: 99, 99, 100.
    const rest = [event(4, 'a-4'), event(5, 'a-4'), event(6, 'a-4')];
    await rebuild.finish(async () => rest.splice(0, 1));
    expect(store.indexed('counted', { upTo: 1_000 }, 10)).toEqual([
      { key: 'a-1', indexed: 100 },
      { key: 'a-2', indexed: 100 },
      { key: 'a-4', indexed: 100 },
    ]);
  });

  it('keeps each group apart, and reads values above a bound', () => {
    // The group is the key up to its first '-': account a-1's documents, and a-10's, are not one group.
    const grouped = { ...counted, name: 'grouped', indexGroupOf: (key: string) => key.slice(0, key.indexOf('-', 2)) } as Projection<unknown>;
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    store.ensure(grouped);
    // a-1-x: 1 event (100); a-1-y: 2 (99); a-10-z: 1 (100).
    store.applyBatch([grouped], [event(1, 'a-1-x'), event(2, 'a-1-y'), event(3, 'a-1-y'), event(4, 'a-10-z')]);
    expect(store.indexed('grouped', { group: 'a-1' }, 10)).toEqual([
      { key: 'a-1-y', indexed: 99 },
      { key: 'a-1-x', indexed: 100 },
    ]);
    expect(store.indexed('grouped', { group: 'a-1', above: 99 }, 10)).toEqual([{ key: 'a-1-x', indexed: 100 }]);
    expect(store.indexedDocs('grouped', { group: 'a-10' }, 10)).toEqual([{ key: 'a-10-z', indexed: 100, doc: { count: 1 } }]);
    expect(store.indexed('grouped', {}, 10)).toEqual([]);
  });

  it('is not available for a projection without one', () => {
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    store.ensure(tally as Projection<unknown>);
    store.applyBatch([tally as Projection<unknown>], [event(1)]);
    expect(() => store.indexed('tally', { upTo: 1 }, 1)).toThrow('has no index');
    expect([...store.entries('tally')]).toEqual([expect.objectContaining({ key: 'a', indexed: undefined })]);
  });
});

describe('a rebuild fed account by account', () => {
  let dir: string;
  let store: SqliteReadModelStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-rebuild-by-account-'));
    store = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the current account's documents when it empties its cache, and writes each account's once it is done", async () => {
    const rebuild = store.beginRebuild([tally as Projection<unknown>], { maxCachedDocs: 0, accountByAccount: true });
    // Over its cache after every batch: written and emptied each time, but for the account still going on.
    rebuild.add([event(1, 'a')]);
    rebuild.add([event(2, 'a'), event(3, 'a')]);
    rebuild.add([event(4, 'b')]);
    rebuild.add([event(5, 'b'), event(6, 'c')]);
    rebuild.add([event(7, 'c')]);
    await rebuild.finish(async () => []);
    expect(store.get<Tally>('tally', 'a')?.doc.events).toEqual([1, 2, 3]);
    expect(store.get<Tally>('tally', 'b')?.doc.events).toEqual([4, 5]);
    expect(store.get<Tally>('tally', 'c')?.doc.events).toEqual([6, 7]);
  });

  it('refuses a document that events of two accounts fold into', () => {
    const everyone: Projection<Tally> = { ...tally, name: 'everyone', keysOf: () => ['all'] };
    store.ensure(everyone as Projection<unknown>);
    const rebuild = store.beginRebuild([everyone as Projection<unknown>], { accountByAccount: true });
    expect(() => rebuild.add([event(1, 'a'), event(2, 'b')])).toThrow('everyone document all is folded from the events of a and of b: it cannot be rebuilt account by account');
    // Fed in the store's order instead, it is any other document.
    const inOrder = store.beginRebuild([everyone as Projection<unknown>]);
    inOrder.add([event(1, 'a'), event(2, 'b')]);
  });
});
