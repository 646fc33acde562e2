import type BetterSqlite3 from 'better-sqlite3';
import {
  assertExpectedEventId,
  positionOf,
  WrongExpectedRevisionError,
  type AppendConflict,
  type AppendOutcome,
  type AppendRequest,
  type AppendSuccess,
  type ExpectedRevision,
  type NewEvent,
  type Position,
} from '../event-store.port.js';

// The rules of an append to the SQLite store, in one place for both ways of running them: on the
// caller's thread, or in the append thread (`sqlite-append.worker.ts`).

/** An event validated and encoded, ready for an INSERT. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string | null;
}

export interface PreparedAppend {
  readonly streamId: string;
  readonly expectedRevision: ExpectedRevision;
  readonly events: readonly PreparedEvent[];
  /** See `AppendRequest.expectedEventId`. */
  readonly expectedEventId: string | undefined;
}

/**
 * How many of a stream's last events an `any` / `stream_exists` append searches for its first event id.
 * EventStoreDB also only remembers recent ids for these (a bounded cache) and documents them as
 * at-least-once; appends with an exact expected revision are compared with the stream itself and are
 * always idempotent. Without an index on event ids each event searched can cost a page read: about 1.3 µs
 * per event when streams are interleaved, so ~130 µs here against ~200 µs for the commit's fsync.
 */
const IDEMPOTENCY_WINDOW = 100n;
const NO_STREAM = -1n;
/** What an append of no events to a stream with no events returns: nothing was written anywhere. */
const NO_POSITION = positionOf(-1n);
const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface StreamHead {
  readonly revision: bigint;
  readonly position: bigint;
}

interface RecordedId {
  readonly id: string;
  readonly revision: bigint;
  readonly position: bigint;
}

/**
 * Validates and serializes an append. Done before the transaction (and on the caller's thread when
 * appends run in the append thread) to keep the write lock, which every other writer waits on, short.
 */
export function prepareAppend(request: AppendRequest): PreparedAppend {
  const { streamId, expectedRevision, events, expectedEventId } = request;
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw new TypeError('An append needs a non-empty stream id');
  }
  if (typeof expectedRevision === 'bigint' && expectedRevision < 0n) {
    throw new RangeError(`Expected revision of ${streamId} must not be negative, got ${expectedRevision}`);
  }
  assertExpectedEventId(request);
  return { streamId, expectedRevision, events: events.map(prepareEvent), expectedEventId };
}

/** True when at least one of the appends has events, so the batch needs the write lock. */
export function writesEvents(appends: readonly PreparedAppend[]): boolean {
  return appends.some((append) => append.events.length > 0);
}

/** True when at least one append with events succeeded: a commit others may want to know of. */
export function storedEvents(appends: readonly { readonly events: readonly unknown[] }[], outcomes: readonly AppendOutcome[]): boolean {
  return outcomes.some((outcome, i) => outcome.ok && appends[i]!.events.length > 0);
}

/** Stream numbers an appender remembers; beyond it, the first remembered are forgotten first. */
const STREAM_NUMBERS_KEPT = 100_000;

/**
 * The numbers of streams (`streams` table), remembered: a number never changes once its row is
 * committed, so only the numbers given to streams by a transaction that did not commit are forgotten, and
 * the oldest beyond `STREAM_NUMBERS_KEPT` (a million accounts' numbers would hold about 100 MB; a number
 * not remembered costs one lookup in the streams' index).
 */
export class StreamNumbers {
  private readonly known = new Map<string, bigint>();
  /** Streams created by the transaction under way. */
  private created: string[] = [];
  private readonly find: BetterSqlite3.Statement<[string], bigint>;
  private readonly insert: BetterSqlite3.Statement<[string]>;

  constructor(
    db: BetterSqlite3.Database,
    private readonly kept = STREAM_NUMBERS_KEPT,
  ) {
    this.find = db.prepare<[string], bigint>('SELECT stream_no FROM streams WHERE stream_id = ?').pluck();
    this.insert = db.prepare<[string]>('INSERT INTO streams (stream_id) VALUES (?)');
  }

  /** The stream's number, or undefined for a stream with no events (a stream gets its row with its first event). */
  of(streamId: string): bigint | undefined {
    let number = this.known.get(streamId);
    if (number === undefined) {
      number = this.find.get(streamId);
      if (number !== undefined) this.remember(streamId, number);
    }
    return number;
  }

  /** Numbers a stream about to get its first event, inside the transaction that writes it. */
  create(streamId: string): bigint {
    const number = BigInt(this.insert.run(streamId).lastInsertRowid);
    this.remember(streamId, number);
    this.created.push(streamId);
    return number;
  }

  /** How many numbers are remembered. */
  get size(): number {
    return this.known.size;
  }

  private remember(streamId: string, number: bigint): void {
    // A Map iterates in insertion order: its first key is the one remembered longest ago.
    if (this.known.size >= this.kept) this.known.delete(this.known.keys().next().value!);
    this.known.set(streamId, number);
  }

  /**
   * Runs a transaction. If it fails, the numbers it gave are forgotten: their rows were rolled back, and
   * the next stream created would be given the same number again.
   */
  within<T>(transaction: () => T): T {
    try {
      return transaction();
    } catch (error) {
      for (const streamId of this.created) this.known.delete(streamId);
      throw error;
    } finally {
      this.created = [];
    }
  }
}

/** Runs batches of prepared appends on one connection, each batch in one transaction. */
export class SqliteAppender {
  private readonly sql: ReturnType<typeof prepareStatements>;
  private readonly streams: StreamNumbers;
  private readonly appendAll: BetterSqlite3.Transaction<
    (appends: readonly PreparedAppend[], created: number) => AppendOutcome[]
  >;

  private readonly appendGroups: BetterSqlite3.Transaction<
    (groups: readonly { readonly appends: readonly PreparedAppend[]; readonly created: number }[]) => AppendOutcome[][]
  >;

  constructor(db: BetterSqlite3.Database) {
    this.sql = prepareStatements(db);
    this.streams = new StreamNumbers(db);
    this.appendAll = db.transaction((appends: readonly PreparedAppend[], created: number) =>
      appends.map((append) => this.appendOne(append, created)),
    );
    this.appendGroups = db.transaction((groups) => groups.map(({ appends, created }) => appends.map((append) => this.appendOne(append, created))));
  }

  /**
   * Several batches in one transaction, so that they share one fsync: the outcomes of each, as `append`
   * would give them run one after another. Throws, with nothing written, when the transaction fails.
   */
  appendTogether(groups: readonly { readonly appends: readonly PreparedAppend[]; readonly created: number }[]): AppendOutcome[][] {
    const writes = groups.some((group) => writesEvents(group.appends));
    return this.streams.within(() => (writes ? this.appendGroups.immediate(groups) : this.appendGroups.deferred(groups)));
  }

  /**
   * One outcome per append, in order; a conflict on one does not stop the others. Throws the SQLite
   * error, with nothing written, when the transaction fails. `created` is the time recorded on the events.
   */
  append(appends: readonly PreparedAppend[], created: number): AppendOutcome[] {
    // A batch of empty appends only checks revisions: a read snapshot is enough, and works on a read-only file.
    return this.streams.within(() =>
      writesEvents(appends) ? this.appendAll.immediate(appends, created) : this.appendAll.deferred(appends, created),
    );
  }

  /** Runs inside the append transaction; sees the effects of the requests before it in the same batch. */
  private appendOne(append: PreparedAppend, created: number): AppendOutcome {
    const stream = this.streams.of(append.streamId);
    const fast = this.appendAtExpected(append, stream, created);
    if (fast !== undefined) return fast;
    const { streamId, expectedRevision, events, expectedEventId } = append;
    const head = stream === undefined ? undefined : this.sql.streamHead.get(stream);
    const current = head?.revision ?? NO_STREAM;
    // Not following the event it names, it was decided on a state the stream does not have, whatever the
    // revisions say. (Had it been written before, that event would be there: it was checked then.)
    if (expectedEventId !== undefined && (stream === undefined || this.sql.eventIdAt.get(stream, expectedRevision as bigint) !== expectedEventId)) {
      return conflict(streamId, expectedRevision, current);
    }

    if (events.length === 0) {
      return expectationHolds(expectedRevision, current)
        ? success(streamId, current, head === undefined ? NO_POSITION : positionOf(head.position))
        : conflict(streamId, expectedRevision, current);
    }

    if (expectedRevision === 'any' || expectedRevision === 'stream_exists') {
      if (stream === undefined) {
        return expectedRevision === 'any'
          ? this.write(streamId, this.streams.create(streamId), current, events, created)
          : conflict(streamId, expectedRevision, current);
      }
      const first = this.sql.recentRevisionOfId.get(stream, current - IDEMPOTENCY_WINDOW, events[0]!.id);
      if (first === undefined) return this.write(streamId, stream, current, events, created);
      // A retry of an earlier append, unless only some of its ids match, which EventStoreDB also refuses.
      return this.earlierAppend(streamId, stream, first, events) ?? conflict(streamId, expectedRevision, current);
    }

    const expected = expectedRevision === 'no_stream' ? NO_STREAM : expectedRevision;
    if (expected === current) return this.write(streamId, stream ?? this.streams.create(streamId), current, events, created);
    // The stream has moved past the expected revision: either this append already happened (its ack was
    // lost and it is being retried) and it gets the original answer, or it is a genuine conflict.
    if (expected < current) {
      return this.earlierAppend(streamId, stream!, expected + 1n, events) ?? conflict(streamId, expectedRevision, current);
    }
    return conflict(streamId, expectedRevision, current);
  }

  /**
   * The common case, an exact expected revision that holds, in one statement instead of a head query
   * then an insert: the first event goes in only if the expected revision is the stream's last (it
   * exists, and the unique index refuses the next one if it exists too). Undefined when it does not
   * hold: the caller then works out whether it is a retry or a conflict.
   */
  private appendAtExpected(
    { streamId, expectedRevision, events, expectedEventId }: PreparedAppend,
    stream: bigint | undefined,
    created: number,
  ): AppendSuccess | undefined {
    if (events.length === 0) return undefined;
    // A stream without a number has no events: only `no_stream` (or `any`) can hold, and its first event
    // goes in with its new number. A stream with one exists: `no_stream` cannot hold.
    if (expectedRevision === 'no_stream') {
      return stream === undefined ? this.write(streamId, this.streams.create(streamId), NO_STREAM, events, created) : undefined;
    }
    if (typeof expectedRevision !== 'bigint' || stream === undefined) return undefined;
    const first = events[0]!;
    const written =
      expectedEventId === undefined
        ? this.sql.insertAfter.run(stream, expectedRevision + 1n, streamId, first.id, first.type, first.data, first.metadata, created, stream, expectedRevision)
        : this.sql.insertAfterEvent.run(stream, expectedRevision + 1n, streamId, first.id, first.type, first.data, first.metadata, created, stream, expectedRevision, expectedEventId);
    if (written.changes === 0) return undefined;
    const revision = expectedRevision + 1n;
    if (events.length === 1) return success(streamId, revision, positionOf(BigInt(written.lastInsertRowid)));
    return this.write(streamId, stream, revision, events.slice(1), created);
  }

  /** The original outcome if the stream holds exactly these events from `fromRevision` on. */
  private earlierAppend(
    streamId: string,
    stream: bigint,
    fromRevision: bigint,
    events: readonly PreparedEvent[],
  ): AppendSuccess | undefined {
    const recorded = this.sql.recordedIds.all(stream, fromRevision, events.length);
    if (recorded.length !== events.length || recorded.some((row, i) => row.id !== events[i]!.id)) return undefined;
    const last = recorded[recorded.length - 1]!;
    return success(streamId, last.revision, positionOf(last.position));
  }

  private write(
    streamId: string,
    stream: bigint,
    current: bigint,
    events: readonly PreparedEvent[],
    created: number,
  ): AppendSuccess {
    let revision = current;
    let position = 0n;
    for (const event of events) {
      revision += 1n;
      const { lastInsertRowid } = this.sql.insert.run(
        stream,
        revision,
        streamId,
        event.id,
        event.type,
        event.data,
        event.metadata,
        created,
      );
      position = BigInt(lastInsertRowid);
    }
    return success(streamId, revision, positionOf(position));
  }
}

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    insert: db.prepare<[bigint, bigint, string, string, string, string, string | null, number]>(
      `INSERT INTO events (stream_no, stream_revision, stream_id, event_id, type, data, metadata, created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // OR IGNORE: a taken (stream, revision) means the stream moved on; the caller finds out how.
    insertAfter: db.prepare<[bigint, bigint, string, string, string, string, string | null, number, bigint, bigint]>(
      `INSERT OR IGNORE INTO events (stream_no, stream_revision, stream_id, event_id, type, data, metadata, created)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM events WHERE stream_no = ? AND stream_revision = ?)`,
    ),
    insertAfterEvent: db.prepare<[bigint, bigint, string, string, string, string, string | null, number, bigint, bigint, string]>(
      `INSERT OR IGNORE INTO events (stream_no, stream_revision, stream_id, event_id, type, data, metadata, created)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM events WHERE stream_no = ? AND stream_revision = ? AND event_id = ?)`,
    ),
    eventIdAt: db
      .prepare<[bigint, bigint], string>('SELECT event_id FROM events WHERE stream_no = ? AND stream_revision = ?')
      .pluck(),
    streamHead: db.prepare<[bigint], StreamHead>(
      `SELECT stream_revision AS revision, position FROM events
       WHERE stream_no = ? ORDER BY stream_revision DESC LIMIT 1`,
    ),
    recentRevisionOfId: db
      .prepare<[bigint, bigint, string], bigint>(
        `SELECT stream_revision FROM events
         WHERE stream_no = ? AND stream_revision > ? AND event_id = ? ORDER BY stream_revision LIMIT 1`,
      )
      .pluck(),
    recordedIds: db.prepare<[bigint, bigint, number], RecordedId>(
      `SELECT event_id AS id, stream_revision AS revision, position FROM events
       WHERE stream_no = ? AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
    ),
  };
}

function prepareEvent(event: NewEvent): PreparedEvent {
  if (!LOWERCASE_UUID.test(event.id)) throw new TypeError(`Event id ${event.id} is not a lowercase UUID`);
  if (typeof event.type !== 'string' || event.type.length === 0) {
    throw new TypeError(`Event ${event.id} needs a type`);
  }
  const data: string | undefined = JSON.stringify(event.data);
  if (data === undefined) throw new TypeError(`Event ${event.id} (${event.type}) has no JSON data`);
  return {
    id: event.id,
    type: event.type,
    data,
    metadata: event.metadata === undefined ? null : JSON.stringify(event.metadata),
  };
}

function expectationHolds(expected: ExpectedRevision, current: bigint): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === NO_STREAM;
    case 'stream_exists':
      return current !== NO_STREAM;
    default:
      return expected === current;
  }
}

function success(streamId: string, revision: bigint, position: Position): AppendSuccess {
  return { ok: true, streamId, nextExpectedRevision: revision, position };
}

function conflict(streamId: string, expected: ExpectedRevision, current: bigint): AppendConflict {
  const actual = current === NO_STREAM ? 'no_stream' : current;
  return { ok: false, streamId, error: new WrongExpectedRevisionError(streamId, expected, actual) };
}
