import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import {
  collect,
  StoreUnavailableError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type NewEvent,
  type RecordedEvent,
  type Subscription,
} from '../event-store.port.js';
import { CommitSignal } from './commit-signal.js';
import { SqliteEventStore } from './sqlite-event-store.js';

describe('SqliteEventStore', () => {
  let directory: string;
  let file: string;
  const opened: SqliteEventStore[] = [];

  const open = (options?: Parameters<typeof SqliteEventStore.open>[1]) => {
    const store = SqliteEventStore.open(file, options);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'sqlite-event-store-'));
    file = join(directory, 'events.db');
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await rm(directory, { recursive: true, force: true });
  });

  describe('the file', () => {
    it('is in WAL mode, and every commit is fsynced (synchronous = FULL)', () => {
      const store = open();

      expect(store.storageSettings()).toEqual({
        filePath: file,
        journalMode: 'wal',
        synchronous: 'full',
        busyTimeoutMs: 5000,
        schemaVersion: 2,
      });
      const other = new BetterSqlite3(file);
      expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
      other.close();
    });

    it('keeps its schema when opened again, and refuses a schema newer than this code', async () => {
      const first = open();
      await first.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });
      await first.close();

      const again = open();
      expect(await collect(again.readStream('account-1'))).toHaveLength(1);
      await again.close();

      const raw = new BetterSqlite3(file);
      raw.pragma('user_version = 99');
      raw.close();
      expect(() => open()).toThrow(/schema version 99/);
    });

    /** A file as the first schema left it: one table, its unique index on the stream id. */
    const firstSchemaFile = () => {
      const v1 = new BetterSqlite3(file);
      v1.pragma('journal_mode = WAL');
      v1.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, stream_revision INTEGER NOT NULL,
        event_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT, created INTEGER NOT NULL,
        UNIQUE (stream_id, stream_revision))`);
      v1.pragma('user_version = 1');
      return v1;
    };

    it('upgrades a file of the first schema in place: every event where it was, streams numbered as they were created', async () => {
      const v1 = firstSchemaFile();
      const insert = v1.prepare('INSERT INTO events (stream_id, stream_revision, event_id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?)');
      const written: [string, number, string][] = [];
      const revisions = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const stream = ['zeta', 'alpha', 'mid'][i % 3 === 0 ? 0 : i % 5 === 0 ? 2 : 1]!;
        const revision = revisions.get(stream) ?? 0;
        revisions.set(stream, revision + 1);
        const id = randomUUID();
        insert.run(stream, revision, id, 'Happened', JSON.stringify({ i }), i % 2 === 0 ? JSON.stringify({ n: i }) : null, 1_000 + i);
        written.push([stream, revision, id]);
      }
      v1.close();

      const store = open();
      expect(store.storageSettings().schemaVersion).toBe(2);
      const all = await collect(store.readAll());
      expect(all.map((e) => [e.streamId, Number(e.revision), e.id])).toEqual(written);
      expect(all.map((e) => e.position.commit)).toEqual(written.map((_, i) => BigInt(i + 1)));
      expect(all.map((e) => e.data)).toEqual(written.map((_, i) => ({ i })));
      expect(all[0]!.metadata).toEqual({ n: 0 });
      expect(all[1]!.metadata).toBeUndefined();
      for (const stream of ['zeta', 'alpha', 'mid']) {
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual(written.filter(([s]) => s === stream).map(([, , id]) => id));
      }
      // The streams are numbered in the order of their first events; ranges follow the numbers.
      const [range] = await store.streamRanges(30n, 1);
      const ranged = [];
      for await (const page of store.readStreamRangeText(range!, 30n, 7)) ranged.push(...page.map((e) => e.streamId));
      expect([...new Set(ranged)]).toEqual(['zeta', 'alpha', 'mid']);
      // Appends go on from where each stream was, and a retry of an old append is still recognised.
      await store.appendToStream('alpha', [newEvent()], { expectedRevision: BigInt(revisions.get('alpha')! - 1) });
      await expect(store.appendToStream('alpha', [newEvent()], { expectedRevision: 0n })).rejects.toThrow(WrongExpectedRevisionError);
      const [, firstAlpha] = written.find(([s]) => s === 'alpha')!;
      const retried = await store.appendToStream('alpha', [{ ...newEvent(), id: written.find(([s]) => s === 'alpha')![2] }], { expectedRevision: 'no_stream' });
      expect(retried.nextExpectedRevision).toBe(BigInt(firstAlpha));
      await store.appendToStream('new', [newEvent()], { expectedRevision: 'no_stream' });
      expect(await store.streamIds('')).toEqual(['alpha', 'mid', 'new', 'zeta']);
    });

    it('waits for another process that holds the write lock while the file needs upgrading, past the usual busy timeout', async () => {
      firstSchemaFile().close();
      // Another process takes the write lock (as one upgrading the file would) and lets go 400 ms later.
      const holder = spawn(
        process.execPath,
        [
          '-e',
          `const db = new (require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))}))(${JSON.stringify(file)});
           db.exec('BEGIN IMMEDIATE'); process.stdout.write('locked');
           setTimeout(() => { db.exec('COMMIT'); db.close(); }, 400);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = once(holder, 'exit');
      await once(holder.stdout!, 'data');

      const store = open({ busyTimeoutMs: 50 });
      expect(store.storageSettings()).toMatchObject({ schemaVersion: 2, busyTimeoutMs: 50 });
      expect(await exited).toEqual([0, null]);
    });

    it('forgets the number it gave a stream in a transaction that failed: the next stream created gets it', async () => {
      const store = open();
      await store.appendToStream('before', [newEvent()], { expectedRevision: 'no_stream' });
      // Makes the second append of the next batch fail inside the transaction, after the first created its stream.
      const other = new BetterSqlite3(file);
      other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'Refused' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      other.close();
      await expect(
        store.appendMany([
          { streamId: 'rolled-back', expectedRevision: 'no_stream', events: [newEvent()] },
          { streamId: 'before', expectedRevision: 0n, events: [{ ...newEvent(), type: 'Refused' }] },
        ]),
      ).rejects.toThrow(/refused/);
      await store.appendToStream('created-next', [newEvent(), newEvent()], { expectedRevision: 'no_stream' });
      await store.appendToStream('rolled-back', [newEvent()], { expectedRevision: 'no_stream' });
      expect((await collect(store.readStream('created-next'))).map((e) => e.revision)).toEqual([0n, 1n]);
      expect((await collect(store.readStream('rolled-back'))).map((e) => e.revision)).toEqual([0n]);
      expect(await store.streamIds('')).toEqual(['before', 'created-next', 'rolled-back']);
    });

    it('has no head position while empty', async () => {
      expect(await open().headPosition()).toBeUndefined();
    });
  });

  describe('bulk reads for replays', () => {
    it('reads events as text, in the order and with the data the decoded read gives', async () => {
      const store = open();
      for (let i = 0; i < 20; i++) await store.appendToStream(`s-${i % 3}`, [newEvent()], { expectedRevision: 'any' });
      const all = await store.readAllText(-1n, 1000);
      expect(all.map((e) => e.position)).toEqual((await collect(store.readAll())).map((e) => e.position.commit));
      expect(JSON.parse(all[0]!.data)).toEqual((await collect(store.readAll({ maxCount: 1 })))[0]!.data);
    });

    describe('by ranges of streams, as a replay split over threads reads them', () => {
      /** Every event of every range, a page of `pageSize` at a time; one list per range. */
      const readRanges = async (store: SqliteEventStore, upTo: bigint, count: number, pageSize: number) => {
        const ranges = await store.streamRanges(upTo, count);
        expect(ranges.length).toBeLessThanOrEqual(count);
        const read = [];
        for (const range of ranges) {
          const events = [];
          for await (const page of store.readStreamRangeText(range, upTo, pageSize)) {
            events.push(...page);
          }
          read.push({ range, events });
        }
        return read;
      };

      it('give every event up to the position once, each stream whole in one range and in revision order', async () => {
        const store = open();
        const streams = ['a', 'bc', 'creditAccount-x', 'creditAccount-acct-00017', 'creditAccount-acct-00018', 'z-99', 'é-1', '😀', '\uff21', '\uff21😀'];
        // Streams are numbered in the order they get their first event, and ranges follow the numbers.
        const created: string[] = [];
        for (let i = 0; i < 200; i++) {
          const stream = streams[(i * 7 + (i >> 3)) % streams.length]!;
          if (!created.includes(stream)) created.push(stream);
          await store.appendToStream(stream, [newEvent()], { expectedRevision: 'any' });
        }
        const numberOf = (stream: string) => created.indexOf(stream) + 1;
        const all = await store.readAllText(-1n, 1000);
        const upTo = all[149]!.position;
        for (const count of [1, 2, 3, 5, 12]) {
          for (const pageSize of [1, 7, 1000]) {
            const read = await readRanges(store, upTo, count, pageSize);
            const events = read.flatMap((range) => range.events);
            expect(events.map((e) => e.position).sort((a, b) => (a < b ? -1 : 1))).toEqual(all.slice(0, 150).map((e) => e.position));
            const rangeOf = new Map<string, number>();
            read.forEach(({ range, events: inRange }, i) => {
              inRange.forEach((event, j) => {
                expect(rangeOf.get(event.streamId) ?? i).toBe(i);
                rangeOf.set(event.streamId, i);
                if (range.from !== undefined) expect(numberOf(event.streamId)).toBeGreaterThanOrEqual(Number(range.from));
                if (range.to !== undefined) expect(numberOf(event.streamId)).toBeLessThan(Number(range.to));
                const before = inRange[j - 1];
                // Stream after stream in the order they were created, each from its first revision on.
                if (before === undefined || before.streamId !== event.streamId) {
                  expect(event.revision).toBe(0n);
                  if (before) expect(numberOf(before.streamId)).toBeLessThan(numberOf(event.streamId));
                } else expect(event.revision).toBe(before.revision + 1n);
              });
            });
          }
        }
      });

      it('share the events about evenly, by how many events each stream holds, never splitting one', async () => {
        const store = open();
        // One stream of 1,200, then 40 streams of 30 events: half of the events are in one stream.
        const events = (n: number) => Array.from({ length: n }, () => newEvent());
        for (let i = 0; i < 12; i++) await store.appendToStream('big', events(100), { expectedRevision: 'any' });
        for (let i = 0; i < 40; i++) await store.appendToStream(`small-${String(i).padStart(2, '0')}`, events(30), { expectedRevision: 'any' });
        const head = (await store.headPosition())!.commit;
        const sizes = async (count: number) => (await readRanges(store, head, count, 500)).map((range) => range.events.length);
        expect(await sizes(2)).toEqual([1_200, 1_200]);
        const four = await sizes(4);
        expect(four[0]).toBe(1_200); // the big stream, alone
        for (const size of four.slice(1)) expect(Math.abs(size - 400)).toBeLessThanOrEqual(30);
        // As many ranges as there are streams to share, at most.
        expect(await sizes(50)).toEqual([1_200, ...Array.from({ length: 40 }, () => 30)]);
      });

      it('end each range between the two streams nearest its share, not after the stream that passes it', async () => {
        const store = open();
        for (const [stream, events] of [['a', 600], ['b', 700], ['c', 100]] as const) {
          await store.appendToStream(stream, Array.from({ length: events }, () => newEvent()), { expectedRevision: 'any' });
        }
        const ranges = await readRanges(store, (await store.headPosition())!.commit, 2, 1_000);
        expect(ranges.map((range) => range.events.length)).toEqual([600, 800]);
      });

      it('are one range of every stream for one thread, or an empty store', async () => {
        const store = open();
        expect(await store.streamRanges(0n, 3)).toEqual([{ from: undefined, to: undefined }]);
        await store.appendToStream('s', [newEvent()], { expectedRevision: 'any' });
        expect(await store.streamRanges(1n, 1)).toEqual([{ from: undefined, to: undefined }]);
      });
    });

    it("reads one stream's events as text, a page at a time from a revision, as the decoded read gives them", async () => {
      const store = open();
      for (let i = 0; i < 30; i++) {
        await store.appendToStream(i % 3 === 0 ? 'other' : 'mine', [{ ...newEvent(), metadata: { n: i } }], { expectedRevision: 'any' });
      }
      const decoded = await collect(store.readStream('mine'));
      const read = [];
      for (let from = 0n; ; ) {
        const page = await store.readStreamText('mine', from, 7);
        read.push(...page);
        if (page.length < 7) break;
        from = page[page.length - 1]!.revision + 1n;
      }
      expect(read.map((e) => [e.streamId, e.revision, e.position, e.type, JSON.parse(e.data), JSON.parse(e.metadata!)])).toEqual(
        decoded.map((e) => [e.streamId, e.revision, e.position.commit, e.type, e.data, e.metadata]),
      );
      expect((await store.readStreamText('mine', 15n, 100)).map((e) => e.revision)).toEqual([15n, 16n, 17n, 18n, 19n]);
      expect(await store.readStreamText('missing', 0n, 10)).toEqual([]);
    });

    it('lists the streams with a prefix, each once and in id order, whatever their events', async () => {
      const store = open();
      // Ids next to the prefix on both sides ('creditAccount' and 'creditAccount.' sort around it).
      const streams = ['creditAccount-b', 'creditAccount', 'creditAccount-a', 'creditAccount.x', 'creditAccount-', 'a', 'creditAccount-é', 'creditAccount-b2'];
      for (let i = 0; i < 40; i++) await store.appendToStream(streams[(i * 3) % streams.length]!, [newEvent()], { expectedRevision: 'any' });
      expect(await store.streamIds('creditAccount-')).toEqual(['creditAccount-', 'creditAccount-a', 'creditAccount-b', 'creditAccount-b2', 'creditAccount-é']);
      expect(await store.streamIds('creditAccount')).toEqual([
        'creditAccount',
        'creditAccount-',
        'creditAccount-a',
        'creditAccount-b',
        'creditAccount-b2',
        'creditAccount-é',
        'creditAccount.x',
      ]);
      expect(await store.streamIds('')).toEqual([...new Set(streams)].sort());
      expect(await store.streamIds('nothing-')).toEqual([]);
    });
  });

  describe('two instances on the same file', () => {
    it("see each other's appends through their subscriptions, by polling", async () => {
      const writer = open();
      const reader = open({ pollIntervalMs: 20 });
      const subscription = reader.subscribeToAll({ fromPosition: 'end' });
      await subscription.caughtUp;

      const { position } = await writer.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });

      const [event] = await take(subscription, 1);
      expect(event!.position).toEqual(position);
    });

    it('refuse an append on a stale expected revision, whichever wrote last', async () => {
      const a = open();
      const b = open();
      await a.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });

      await expect(
        b.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' }),
      ).rejects.toMatchObject({ actualRevision: 0n });
      await b.appendToStream('account-1', [newEvent()], { expectedRevision: 0n });
      await expect(a.appendToStream('account-1', [newEvent()], { expectedRevision: 0n })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      expect(await collect(a.readStream('account-1'))).toHaveLength(2);
    });
  });

  describe('a subscription', () => {
    it('is woken by an append through the same instance without waiting for the poll', async () => {
      const store = open({ pollIntervalMs: 60_000 });
      const subscription = store.subscribeToAll({ fromPosition: 'end' });
      await subscription.caughtUp;
      const started = Date.now();

      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });

      await take(subscription, 1);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('catches up through pages of events its filter skips, without being read from', async () => {
      const store = open();
      await store.appendMany(
        Array.from({ length: 25 }, (_, i) => ({
          streamId: `other-${i}`,
          expectedRevision: 'no_stream' as const,
          events: newEvents(100),
        })),
      );
      const subscription = store.subscribeToAll({ filter: { streamPrefixes: ['account-'] } });

      await subscription.caughtUp;
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });

      expect((await take(subscription, 1)).map((e) => e.streamId)).toEqual(['account-1']);
    });

    it('never loses or repeats an event while appends from two processes race its catch-up', async () => {
      const store = open({ pollIntervalMs: 5 });
      const otherProcess = open();
      for (let batch = 0; batch < 5; batch++) {
        await store.appendMany(
          Array.from({ length: 10 }, (_, i) => ({
            streamId: `history-${batch}-${i}`,
            expectedRevision: 'no_stream' as const,
            events: newEvents(100),
          })),
        );
      }
      const subscription = store.subscribeToAll();

      const writers = [store, otherProcess].map(async (writer, w) => {
        for (let i = 0; i < 150; i++) {
          const expectedRevision = i === 0 ? 'no_stream' : BigInt(i * 3 - 1);
          await writer.appendToStream(`live-${w}`, newEvents(3), { expectedRevision });
          await yieldToEventLoop();
        }
      });
      const received = take(subscription, 5000 + 2 * 150 * 3);
      await Promise.all(writers);

      const delivered = (await received).map((e) => e.position.commit);
      const stored = (await collect(store.readAll())).map((e) => e.position.commit);
      expect(delivered).toEqual(stored);
    });
  });

  describe.each([
    ['on the calling thread', false],
    ['in a thread', true],
  ])('appending %s', (_, appendThread) => {
    it('counts each commit that had events to write in its commit signal, and wakes a thread following it', async () => {
      const store = open({ appendThread });
      const raw = new BetterSqlite3(file, { readonly: true });
      const countRows = raw.prepare('SELECT count(*) FROM events').pluck();
      const commits = () => Atomics.load(store.commitSignal, 0);
      const seen: unknown[] = [];
      let stopped = false;
      const following = CommitSignal.follow(store.commitSignal, () => seen.push(countRows.get()), () => stopped);

      await store.appendToStream('account-1', newEvents(2), { expectedRevision: 'no_stream' });
      expect(commits()).toBe(1);
      await store.appendMany([{ streamId: 'account-1', expectedRevision: 1n, events: [] }]);
      await store.appendMany([]);
      await store.appendToStream('account-1', newEvents(2), { expectedRevision: 'no_stream' }).catch(() => undefined);
      expect(commits()).toBe(1);
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 1n });
      expect(commits()).toBe(2);

      // Woken once the rows were committed: another connection already saw them.
      for (let turn = 0; turn < 100 && !seen.includes(3); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(seen).toContain(3);
      expect(seen.every((rows) => rows === 2 || rows === 3)).toBe(true);
      stopped = true;
      CommitSignal.bump(store.commitSignal);
      await following;
      raw.close();
    });
  });

  describe('when SQLite cannot write', () => {
    it.each([
      ['appending on the calling thread', false],
      ['appending in a thread', true],
    ])('reports a read-only file as unavailable and writes nothing, %s', async (_, appendThread) => {
      const store = open();
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });
      await store.close();
      const restore = await makeReadOnly(file);
      if (restore === undefined) return; // nothing here can make a file read-only for this user
      try {
        const readOnly = open({ appendThread });

        const error = await readOnly
          .appendToStream('account-1', [newEvent()], { expectedRevision: 0n })
          .catch((e: unknown) => e);

        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).cause).toMatchObject({
          code: expect.stringMatching(/^SQLITE_READONLY/),
        });
        expect(await collect(readOnly.readStream('account-1'))).toHaveLength(1);
        await readOnly.close();
      } finally {
        await restore();
      }
      expect(await collect(open().readStream('account-1'))).toHaveLength(1);
    });

    it('reports a write lock held too long by another process as unavailable', async () => {
      const store = open({ busyTimeoutMs: 50 });
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });
      const otherProcess = new BetterSqlite3(file);
      otherProcess.exec('BEGIN IMMEDIATE');

      try {
        const error = await store
          .appendMany([
            { streamId: 'account-1', expectedRevision: 0n, events: [newEvent()] },
            { streamId: 'account-2', expectedRevision: 'no_stream', events: [newEvent()] },
          ])
          .catch((e: unknown) => e);

        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).cause).toMatchObject({ code: 'SQLITE_BUSY' });
      } finally {
        otherProcess.exec('ROLLBACK');
        otherProcess.close();
      }
      await expect(
        store.appendToStream('account-1', [newEvent()], { expectedRevision: 0n }),
      ).resolves.toMatchObject({ nextExpectedRevision: 1n });
      await expect(collect(store.readStream('account-2'))).rejects.toBeInstanceOf(StreamNotFoundError);
    });

    it('rolls back the whole batch when a write fails halfway', async () => {
      // The trigger goes in while no store has the file open, so the store's connection reads it at open.
      await open().close();
      const events = newEvents(3);
      const schema = new BetterSqlite3(file);
      schema.exec(
        `CREATE TRIGGER fail_halfway AFTER INSERT ON events WHEN NEW.event_id = '${events[1]!.id}'
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`,
      );
      schema.close();
      const store = open();

      await expect(
        store.appendMany([
          { streamId: 'account-1', expectedRevision: 'no_stream', events: newEvents(2) },
          { streamId: 'account-2', expectedRevision: 'no_stream', events },
        ]),
      ).rejects.toThrow('disk on fire');

      expect(await store.headPosition()).toBeUndefined();
      await store.close();
      const cleanup = new BetterSqlite3(file);
      cleanup.exec('DROP TRIGGER fail_halfway');
      cleanup.close();
      const reopened = open();
      await expect(
        reopened.appendToStream('account-1', newEvents(2), { expectedRevision: 'no_stream' }),
      ).resolves.toMatchObject({ nextExpectedRevision: 1n });
    });
  });

  describe('closing', () => {
    it('ends its subscriptions, is idempotent, and refuses further use', async () => {
      const store = open();
      const subscription = store.subscribeToAll();
      const pending = subscription[Symbol.asyncIterator]().next();

      await Promise.all([store.close(), store.close()]);

      await expect(pending).resolves.toEqual({ value: undefined, done: true });
      await expect(store.appendToStream('account-1', [newEvent()], { expectedRevision: 'any' })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await expect(collect(store.readAll())).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(() => store.subscribeToAll()).toThrow(StoreUnavailableError);
    });
  });

  describe('refuses malformed appends before writing anything', () => {
    it.each([
      ['an event id that is not a lowercase UUID', { ...newEvent(), id: 'ABC' }],
      ['data that is not JSON', { ...newEvent(), data: undefined }],
      ['an empty type', { ...newEvent(), type: '' }],
    ])('%s', async (_, bad) => {
      const store = open();

      await expect(
        store.appendMany([
          { streamId: 'account-1', expectedRevision: 'no_stream', events: [newEvent()] },
          { streamId: 'account-2', expectedRevision: 'no_stream', events: [bad] },
        ]),
      ).rejects.toBeInstanceOf(TypeError);
      expect(await store.headPosition()).toBeUndefined();
    });
  });
});

function newEvent(): NewEvent {
  return { id: randomUUID(), type: 'CreditsCharged', data: { credits: 1 } };
}

function newEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, newEvent);
}

async function take(subscription: Subscription, count: number): Promise<RecordedEvent[]> {
  const iterator = subscription[Symbol.asyncIterator]();
  const events: RecordedEvent[] = [];
  const deadline = setTimeout(() => void subscription.close(), 10_000);
  try {
    while (events.length < count) {
      const next = await iterator.next();
      if (next.done) throw new Error(`Subscription ended after ${events.length} of ${count} events`);
      events.push(next.value);
    }
  } finally {
    clearTimeout(deadline);
  }
  return events;
}

/**
 * Makes the file read-only for this process: by its mode, or, for root (whom modes don't stop), with the
 * immutable attribute. Returns how to undo it, or undefined when neither works here.
 */
async function makeReadOnly(path: string): Promise<(() => Promise<void>) | undefined> {
  await chmod(path, 0o444);
  if (!isWritable(path)) return () => chmod(path, 0o644);
  try {
    execFileSync('chattr', ['+i', path], { stdio: 'ignore' });
  } catch {
    await chmod(path, 0o644);
    return undefined;
  }
  return async () => {
    execFileSync('chattr', ['-i', path], { stdio: 'ignore' });
    await chmod(path, 0o644);
  };
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
