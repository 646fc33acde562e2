import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import {
  collect,
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendOutcome,
  type NewEvent,
} from '../event-store.port.js';

// The append threads a store starts are recorded, so that a test can kill one as a crash would; and the
// compiled worker module can be made to look missing.
const realWorkerThreads = await import('node:worker_threads');
const started: Worker[] = [];
const checkpointThreads: Worker[] = [];
class RecordedWorker extends realWorkerThreads.Worker {
  constructor(...args: ConstructorParameters<typeof realWorkerThreads.Worker>) {
    super(...args);
    (String(args[0]).includes('sqlite-checkpoint.worker') ? checkpointThreads : started).push(this);
  }
}
jest.unstable_mockModule('node:worker_threads', () => ({
  ...realWorkerThreads,
  default: { ...realWorkerThreads, Worker: RecordedWorker },
  Worker: RecordedWorker,
}));
const realWorkerScript = await import('../worker-script.js');
const compiledWorkerScript = jest.fn(realWorkerScript.compiledWorkerScript);
jest.unstable_mockModule('../worker-script.js', () => ({ ...realWorkerScript, compiledWorkerScript }));
const { SqliteEventStore } = await import('./sqlite-event-store.js');

describe('SqliteEventStore appending in a thread', () => {
  let directory: string;
  let file: string;
  const opened: ReturnType<typeof SqliteEventStore.open>[] = [];

  const open = (options: Parameters<typeof SqliteEventStore.open>[1] = {}) => {
    const store = SqliteEventStore.open(file, { ...options, appendThread: true });
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'sqlite-append-thread-'));
    file = join(directory, 'events.db');
    started.length = 0;
    checkpointThreads.length = 0;
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await rm(directory, { recursive: true, force: true });
  });

  describe('with several appends outstanding', () => {
    it('runs them in the order they were made, and answers each in that order', async () => {
      const store = open();
      const answered: number[] = [];

      // Each append expects the revision the one before it leaves: they only all succeed in order.
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          store
            .appendMany([
              { streamId: 'account-1', expectedRevision: i === 0 ? 'no_stream' : BigInt(i - 1), events: [newEvent()] },
              { streamId: `account-other-${i}`, expectedRevision: 'no_stream', events: newEvents(2) },
            ])
            .finally(() => answered.push(i)),
        ),
      );

      expect(answered).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(outcomes.map(([outcome]) => outcome)).toEqual(
        Array.from({ length: 30 }, (_, i) => expect.objectContaining({ ok: true, nextExpectedRevision: BigInt(i) })),
      );
      const positions = outcomes.flatMap((pair) => pair.map((outcome) => (outcome as { position: { commit: bigint } }).position.commit));
      expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : 1)));
      expect(await collect(store.readStream('account-1'))).toHaveLength(30);
    });

    it('commits those waiting together, yet one that fails takes none of the others with it', async () => {
      // The trigger goes in before the store opens, so both its connections read it at open.
      await open().close();
      const doomed = newEvent();
      const schema = new BetterSqlite3(file);
      schema.exec(
        `CREATE TRIGGER fail_on_doomed AFTER INSERT ON events WHEN NEW.event_id = '${doomed.id}'
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`,
      );
      schema.close();
      const store = open();

      const [before, failed, after] = await Promise.allSettled([
        store.appendMany([{ streamId: 'account-1', expectedRevision: 'no_stream', events: [newEvent()] }]),
        store.appendMany([
          { streamId: 'account-2', expectedRevision: 'no_stream', events: [newEvent()] },
          { streamId: 'account-3', expectedRevision: 'no_stream', events: [doomed] },
        ]),
        store.appendMany([{ streamId: 'account-1', expectedRevision: 0n, events: [newEvent()] }]),
      ]);

      expect(before).toMatchObject({ status: 'fulfilled', value: [{ ok: true, nextExpectedRevision: 0n }] });
      expect(after).toMatchObject({ status: 'fulfilled', value: [{ ok: true, nextExpectedRevision: 1n }] });
      // Not an error that says "try again later": rethrown as it was, with its SQLite code.
      expect(failed.status).toBe('rejected');
      const error = (failed as PromiseRejectedResult).reason as Error & { code?: string };
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toBe('disk on fire');
      expect(error.code).toBe('SQLITE_CONSTRAINT_TRIGGER');
      expect((await collect(store.readAll())).map((e) => e.streamId)).toEqual(['account-1', 'account-1']);
    });
  });

  it('answers a conflict with the WrongExpectedRevisionError the calling thread would have made', async () => {
    const store = open();
    await store.appendToStream('account-1', newEvents(2), { expectedRevision: 'no_stream' });

    const [conflict, fine]: AppendOutcome[] = await store.appendMany([
      { streamId: 'account-1', expectedRevision: 0n, events: [newEvent()] },
      { streamId: 'account-2', expectedRevision: 'stream_exists', events: [] },
    ]);
    const thrown = await store
      .appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' })
      .catch((e: unknown) => e);

    expect(conflict).toMatchObject({ ok: false, streamId: 'account-1' });
    const error = (conflict as Extract<AppendOutcome, { ok: false }>).error;
    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(error).toMatchObject({ streamId: 'account-1', expectedRevision: 0n, actualRevision: 1n, code: 'WRONG_EXPECTED_REVISION' });
    expect(error.message).toBe('Append to account-1 expected revision 0 but the stream is at 1');
    expect(fine).toMatchObject({ ok: false, error: { expectedRevision: 'stream_exists', actualRevision: 'no_stream' } });
    expect(thrown).toBeInstanceOf(WrongExpectedRevisionError);
    expect(thrown).toMatchObject({ expectedRevision: 'no_stream', actualRevision: 1n });
  });

  describe('while another process holds the write lock', () => {
    it('keeps the calling thread free, and reports the lock held too long as unavailable', async () => {
      const store = open({ busyTimeoutMs: 300 });
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });
      const otherProcess = new BetterSqlite3(file);
      otherProcess.exec('BEGIN IMMEDIATE');

      try {
        let ticks = 0;
        let answered = false;
        const append = store
          .appendToStream('account-1', [newEvent()], { expectedRevision: 0n })
          .catch((e: unknown) => e)
          .finally(() => (answered = true));
        while (!answered) {
          await new Promise((resolve) => setImmediate(resolve));
          ticks += 1;
        }
        const error = await append;

        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).message).toMatch(/is unavailable: database is locked/);
        expect((error as StoreUnavailableError).cause).toMatchObject({ name: 'SqliteError', code: 'SQLITE_BUSY' });
        // The calling thread went round its event loop while the thread waited for 300 ms.
        expect(ticks).toBeGreaterThan(50);
      } finally {
        otherProcess.exec('ROLLBACK');
        otherProcess.close();
      }
      await expect(
        store.appendToStream('account-1', [newEvent()], { expectedRevision: 0n }),
      ).resolves.toMatchObject({ nextExpectedRevision: 1n });
    });
  });

  describe('when the thread dies', () => {
    it('fails the appends it had not answered as unavailable; retried, they are written once; the next append starts a new thread', async () => {
      const store = open();
      await store.appendToStream('account-1', [newEvent()], { expectedRevision: 'no_stream' });
      expect(started).toHaveLength(1);
      const requests = Array.from({ length: 500 }, (_, i) => ({
        streamId: 'account-1',
        expectedRevision: BigInt(i),
        events: [newEvent()],
      }));

      // The first five answered; the rest sent, and the thread ended before it can answer them all (sent
      // together, all 500 could be committed in one group before it ends).
      const answered = requests.slice(0, 5).map((request) => store.appendMany([request]));
      await Promise.all(answered);
      const outstanding = requests.slice(5).map((request) => store.appendMany([request]));
      const terminated = started[0]!.terminate();
      const results = await Promise.allSettled([...answered, ...outstanding]);
      await terminated;

      const failed = results.flatMap((result, i) => (result.status === 'rejected' ? [i] : []));
      // An append that was answered keeps its answer; the thread dies with the rest outstanding.
      expect(failed[0]).toBeGreaterThan(4);
      expect(failed).toEqual(Array.from({ length: 500 - failed[0]! }, (_, i) => failed[0]! + i));
      for (const i of failed) {
        const reason = (results[i] as PromiseRejectedResult).reason as Error;
        expect(reason).toBeInstanceOf(StoreUnavailableError);
        expect(reason.message).toMatch(/append thread .* exited with code 1; whether this append was written is unknown/);
      }
      // Whether or not the thread wrote them before it died, retrying them with the same ids is safe.
      for (const i of failed) {
        await expect(store.appendMany([requests[i]!])).resolves.toMatchObject([{ ok: true, nextExpectedRevision: BigInt(i + 1) }]);
      }
      expect(started).toHaveLength(2);
      const stream = await collect(store.readStream('account-1'));
      expect(stream.slice(1).map((e) => e.id)).toEqual(requests.map((request) => request.events[0]!.id));
    });
  });

  describe('closing', () => {
    it('waits for the outstanding appends, then ends the threads; later appends are refused', async () => {
      const store = open();
      const appends = Array.from({ length: 10 }, (_, i) =>
        store.appendToStream(`account-${i}`, newEvents(3), { expectedRevision: 'no_stream' }),
      );

      await store.close();

      await expect(Promise.all(appends)).resolves.toHaveLength(10);
      expect(started.map((worker) => worker.threadId)).toEqual([-1]);
      expect(checkpointThreads.map((worker) => worker.threadId)).toEqual([-1]);
      const raw = new BetterSqlite3(file, { readonly: true });
      expect(raw.prepare('SELECT count(*) FROM events').pluck().get()).toBe(30);
      raw.close();
      await expect(store.appendToStream('account-1', [newEvent()], { expectedRevision: 'any' })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    });
  });

  it('refuses to open when the compiled thread module is missing, rather than appending on this thread', () => {
    compiledWorkerScript.mockReturnValueOnce(undefined);

    expect(() => open()).toThrow(/sqlite-append\.worker\.js is neither beside .* nor in dist\/: build the project/);
    expect(started).toHaveLength(0);
  });

  it('refuses to open when the checkpoint thread module is missing, and ends the append thread it started', async () => {
    compiledWorkerScript.mockImplementation((url, name) =>
      name === 'sqlite-checkpoint.worker' ? undefined : realWorkerScript.compiledWorkerScript(url, name),
    );
    try {
      expect(() => open()).toThrow(/sqlite-checkpoint\.worker\.js is neither beside .* nor in dist\/: build the project/);
    } finally {
      compiledWorkerScript.mockImplementation(realWorkerScript.compiledWorkerScript);
    }

    expect(started).toHaveLength(1);
    await new Promise((resolve) => started[0]!.once('exit', resolve));
    expect(checkpointThreads).toHaveLength(0);
  });
});

function newEvent(): NewEvent {
  return { id: randomUUID(), type: 'CreditsCharged', data: { credits: 1 } };
}

function newEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, newEvent);
}
