import { randomUUID } from 'node:crypto';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { collect, type NewEvent } from '../event-store.port.js';
import { SqliteEventStore } from './sqlite-event-store.js';

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

describe('SqliteEventStore checkpointing in a thread', () => {
  let directory: string;
  let file: string;
  const opened: SqliteEventStore[] = [];

  const open = (options: Parameters<typeof SqliteEventStore.open>[1]) => {
    const store = SqliteEventStore.open(file, { ...options, appendThread: true });
    opened.push(store);
    return store;
  };

  /** How many times the WAL has been started again from its beginning (its header's checkpoint sequence). */
  const walRestarts = () => {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    const fd = openSync(`${file}-wal`, 'r');
    try {
      readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
    } finally {
      closeSync(fd);
    }
    return header.readUInt32BE(12);
  };

  const walFrames = () => {
    const raw = new BetterSqlite3(file, { readonly: true });
    const pageSize = Number(raw.pragma('page_size', { simple: true }));
    raw.close();
    return (statSync(`${file}-wal`).size - WAL_HEADER_BYTES) / (pageSize + FRAME_HEADER_BYTES);
  };

  /** A read transaction left open on another connection: no checkpoint may copy past what it sees. */
  const holdSnapshot = () => {
    const reader = new BetterSqlite3(file, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM events').get();
    return {
      release: () => {
        reader.exec('COMMIT');
        reader.close();
      },
    };
  };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'sqlite-checkpoint-thread-'));
    file = join(directory, 'events.db');
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await rm(directory, { recursive: true, force: true });
  });

  it('copies commits into the database file long before the WAL reaches its limit, so the WAL starts again', async () => {
    // A limit the appends never reach: only the checkpoint thread can copy them.
    const store = open({ checkpointIntervalMs: 20, walFrameLimit: 1_000_000 });
    await store.appendToStream('account-0', [newEvent()], { expectedRevision: 'no_stream' });
    const fileBefore = statSync(file).size;
    const restartsBefore = walRestarts();

    await appendLarge(store, 1, 20, 10);
    // A commit that begins once every frame is copied writes the WAL from its beginning again.
    let appended = 0;
    await until(async () => {
      await store.appendToStream('account-0', [newEvent()], { expectedRevision: BigInt(appended++) });
      return walRestarts() > restartsBefore;
    });

    // 200 events of 2,000 characters each are in the database file itself.
    expect(statSync(file).size - fileBefore).toBeGreaterThan(400_000);
    expect(await collect(store.readAll())).toHaveLength(201 + appended);
  });

  it('copies what a reader kept it from copying once the reader is done, with no commit since', async () => {
    const store = open({ checkpointIntervalMs: 20, walFrameLimit: 1_000_000 });
    await store.appendToStream('account-0', [newEvent()], { expectedRevision: 'no_stream' });
    const reader = holdSnapshot();
    await appendLarge(store, 1, 20, 10);
    // Several turns of the checkpoint thread, each stopped at the reader's snapshot.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const fileBefore = statSync(file).size;

    reader.release();

    await until(async () => statSync(file).size - fileBefore > 400_000);
  });

  it('copies what the WAL held before it started, with no commit since', async () => {
    // Commits it was never told of: another connection's, left in the WAL (it must not checkpoint on close).
    const first = open({ checkpointIntervalMs: 3_600_000, walFrameLimit: 1_000_000 });
    await first.appendToStream('account-0', [newEvent()], { expectedRevision: 'no_stream' });
    await first.close();
    const other = new BetterSqlite3(file);
    other.pragma('wal_autocheckpoint = 0');
    const number = other.prepare('INSERT INTO streams (stream_id) VALUES (?)');
    const insert = other.prepare(
      `INSERT INTO events (event_id, stream_no, stream_id, stream_revision, type, data, metadata, created)
       VALUES (?, last_insert_rowid(), ?, 0, 'CreditsCharged', ?, NULL, 0)`,
    );
    const fileBefore = statSync(file).size;
    other.transaction(() => {
      for (let i = 1; i <= 200; i++) {
        number.run(`account-${i}`);
        insert.run(randomUUID(), `account-${i}`, JSON.stringify({ note: 'x'.repeat(2_000) }));
      }
    })();

    try {
      open({ checkpointIntervalMs: 20, walFrameLimit: 1_000_000 });
      await until(async () => statSync(file).size - fileBefore > 400_000);
    } finally {
      other.close();
    }
  });

  it('bounds the WAL at its limit when the checkpoint thread has not copied it: the append thread checkpoints', async () => {
    // The checkpoint thread's first turn would come after an hour.
    const store = open({ checkpointIntervalMs: 3_600_000, walFrameLimit: 50 });
    await store.appendToStream('account-0', [newEvent()], { expectedRevision: 'no_stream' });
    const restartsBefore = walRestarts();

    // Each commit writes a few pages; 100 of them would make the WAL hundreds of frames long.
    await appendLarge(store, 1, 100, 4);

    expect(walRestarts()).toBeGreaterThan(restartsBefore);
    // The limit, and the frames of the commit that went past it.
    expect(walFrames()).toBeLessThanOrEqual(50 + 10);
    expect(await collect(store.readAll())).toHaveLength(401);
  });

  it('cuts a WAL that a reader kept from starting again back to twice the limit once it starts again', async () => {
    const store = open({ checkpointIntervalMs: 3_600_000, walFrameLimit: 50 });
    await store.appendToStream('account-0', [newEvent()], { expectedRevision: 'no_stream' });
    // The WAL only grows meanwhile.
    const reader = holdSnapshot();

    await appendLarge(store, 1, 100, 4);
    const grown = walFrames();
    reader.release();
    await appendLarge(store, 101, 103, 4);

    expect(grown).toBeGreaterThan(200);
    expect(walFrames()).toBeLessThanOrEqual(2 * 50);
    expect(await collect(store.readAll())).toHaveLength(413);
  });

  it('keeps every append, in order, while both threads checkpoint under appends made together', async () => {
    const store = open({ checkpointIntervalMs: 5, walFrameLimit: 200 });

    await Promise.all(
      Array.from({ length: 40 }, async (_, stream) => {
        for (let i = 0; i < 25; i++) {
          await store.appendToStream(`account-${stream}`, largeEvents(2), { expectedRevision: i === 0 ? 'no_stream' : BigInt(2 * i - 1) });
        }
      }),
    );

    const all = await collect(store.readAll());
    expect(all).toHaveLength(2_000);
    for (let stream = 0; stream < 40; stream++) {
      expect(all.filter((event) => event.streamId === `account-${stream}`).map((event) => event.revision)).toEqual(
        Array.from({ length: 50 }, (_, i) => BigInt(i)),
      );
    }
    await store.close();
    const raw = new BetterSqlite3(file, { readonly: true });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
  });

  it('refuses a checkpoint interval or a WAL limit that is not a positive whole number', () => {
    expect(() => open({ checkpointIntervalMs: 0 })).toThrow('checkpointIntervalMs must be a positive integer, got 0');
    expect(() => open({ walFrameLimit: 2.5 })).toThrow('walFrameLimit must be a positive integer, got 2.5');
  });
});

function newEvent(): NewEvent {
  return { id: randomUUID(), type: 'CreditsCharged', data: { credits: 1 } };
}

/** Events of about 2 KB each, so that a commit of a few writes pages of its own. */
function largeEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, () => ({ id: randomUUID(), type: 'CreditsCharged', data: { note: 'x'.repeat(2_000) } }));
}

/** Accounts `from` to `to` each get a first commit of `each` large events. */
async function appendLarge(store: SqliteEventStore, from: number, to: number, each: number): Promise<void> {
  for (let i = from; i <= to; i++) await store.appendToStream(`account-${i}`, largeEvents(each), { expectedRevision: 'no_stream' });
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Not so after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
