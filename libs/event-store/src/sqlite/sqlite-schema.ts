import type { Database } from 'better-sqlite3';
import { positionOf, type EventMetadata, type RecordedEvent, type StoredEventText } from '../event-store.port.js';

/**
 * Migrations, applied in order; `PRAGMA user_version` records how many have run. Never edit one that has
 * shipped: add the next.
 *
 * v1: one table. `position` is the rowid, so it is assigned in commit order (writers are serialized and
 * rows are never deleted), which is what makes it usable as the `$all` position. There is deliberately no
 * index on `event_id`: event ids are random UUIDs, and an index on them costs well over half the insert
 * throughput once it outgrows the page cache (measured: 130k → 35k events/s at 2M events). Idempotency
 * checks go through the stream index instead.
 *
 * v2: each stream gets a number (`streams`, assigned in the order streams were created, never reused), and
 * the stream index is on (stream number, revision) instead of (stream id, revision). An append to many
 * streams writes one index entry per event at a random place in the index, so a commit rewrites about one
 * index page per event; entries of about 10 bytes instead of about 35 (a stream id such as
 * `creditAccount-acct-1234` in every one) make the index a third the size, and a commit rewrites fewer of
 * its pages (docs/benchmarks.md). The events keep their stream id, so reads in position order need no join.
 * A v1 file is rewritten once, in one transaction: SQLite cannot drop the index a UNIQUE clause made.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     position        INTEGER PRIMARY KEY,
     stream_id       TEXT    NOT NULL,
     stream_revision INTEGER NOT NULL,
     event_id        TEXT    NOT NULL,
     type            TEXT    NOT NULL,
     data            TEXT    NOT NULL,
     metadata        TEXT,
     created         INTEGER NOT NULL,
     UNIQUE (stream_id, stream_revision)
   )`,
  `CREATE TABLE streams (
     stream_no       INTEGER PRIMARY KEY,
     stream_id       TEXT    NOT NULL UNIQUE
   );
   INSERT INTO streams (stream_id) SELECT stream_id FROM events GROUP BY stream_id ORDER BY min(position);
   CREATE TABLE events_v2 (
     position        INTEGER PRIMARY KEY,
     stream_no       INTEGER NOT NULL REFERENCES streams (stream_no),
     stream_revision INTEGER NOT NULL,
     stream_id       TEXT    NOT NULL,
     event_id        TEXT    NOT NULL,
     type            TEXT    NOT NULL,
     data            TEXT    NOT NULL,
     metadata        TEXT,
     created         INTEGER NOT NULL
   );
   INSERT INTO events_v2 (position, stream_no, stream_revision, stream_id, event_id, type, data, metadata, created)
     SELECT e.position, s.stream_no, e.stream_revision, e.stream_id, e.event_id, e.type, e.data, e.metadata, e.created
     FROM events e JOIN streams s ON s.stream_id = e.stream_id ORDER BY e.position;
   DROP TABLE events;
   ALTER TABLE events_v2 RENAME TO events;
   CREATE UNIQUE INDEX events_by_stream ON events (stream_no, stream_revision);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * How long opening a file that needs upgrading waits for the write lock: another process may be upgrading
 * it, which takes about 4.4 s per million events (v2), and the usual busy timeout would fail the open.
 */
const UPGRADE_LOCK_WAIT_MS = 15 * 60_000;

export function migrate(db: Database): void {
  // The common case (an up-to-date file) must not take the write lock: a read-only file is still
  // readable, and two processes starting together should not queue behind each other.
  if (userVersion(db) === SCHEMA_VERSION) return;
  const busyTimeout = Number(db.pragma('busy_timeout', { simple: true }));
  db.pragma(`busy_timeout = ${UPGRADE_LOCK_WAIT_MS}`);
  try {
    db.transaction(() => {
      // Read again under the lock: a process that held it may have upgraded the file meanwhile.
      const version = userVersion(db);
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `The event store file has schema version ${version}; this build knows versions up to ${SCHEMA_VERSION}`,
        );
      }
      for (const migration of MIGRATIONS.slice(version)) db.exec(migration);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } finally {
    db.pragma(`busy_timeout = ${busyTimeout}`);
  }
}

function userVersion(db: Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

/**
 * A row of `events` as read with safe integers on, as an array (`raw` statements) in `EVENT_COLUMNS`
 * order: better-sqlite3 builds an object per row slowly, and the caller builds its own object anyway.
 */
export type EventRow = readonly [
  position: bigint,
  streamId: string,
  revision: bigint,
  eventId: string,
  type: string,
  data: string,
  metadata: string | null,
  created: bigint,
];

export const EVENT_COLUMNS = 'position, stream_id, stream_revision, event_id, type, data, metadata, created';

// Rows are read by index, not destructured: destructuring goes through the array iterator until optimised.
export function toRecordedEvent(row: EventRow): RecordedEvent {
  const metadata = row[6];
  return {
    id: row[3],
    streamId: row[1],
    revision: row[2],
    position: positionOf(row[0]),
    type: row[4],
    data: JSON.parse(row[5]),
    metadata: metadata === null ? undefined : (JSON.parse(metadata) as EventMetadata),
    created: new Date(Number(row[7])),
  };
}

/** The columns of a replay's text read, as a `raw` statement returns them (see `EventRow`). */
export const EVENT_TEXT_COLUMNS = 'position, stream_id, stream_revision, type, data, metadata';

export type EventTextRow = readonly [position: bigint, streamId: string, revision: bigint, type: string, data: string, metadata: string | null];

export function toStoredEventText(row: EventTextRow): StoredEventText {
  return { position: row[0], streamId: row[1], revision: row[2], type: row[3], data: row[4], metadata: row[5] };
}
