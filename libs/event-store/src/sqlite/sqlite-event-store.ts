import BetterSqlite3 from 'better-sqlite3';
import {
  positionOf,
  StoreUnavailableError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type AppendConflict,
  type AppendOutcome,
  type AppendRequest,
  type AppendSuccess,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StoredEventText,
  type RecordedEvent,
  type SubscribeToAllOptions,
  type Subscription,
  type SubscriptionFilter,
} from '../event-store.port.js';
import { EVENT_COLUMNS, migrate, toRecordedEvent, type EventRow } from './sqlite-schema.js';
import { SqliteSubscription, type SubscriptionSource } from './sqlite-subscription.js';

export interface SqliteEventStoreOptions {
  /** How often a subscription at the head looks for appends made by another process. Default 250. */
  readonly pollIntervalMs?: number;
  /** How long a write waits for another process's write lock before giving up. Default 5000. */
  readonly busyTimeoutMs?: number;
}

/** What the connection actually runs with, for start-up logs and health checks. */
export interface SqliteStorageSettings {
  readonly filePath: string;
  readonly journalMode: string;
  readonly synchronous: 'off' | 'normal' | 'full' | 'extra';
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
}

const DEFAULT_POLL_INTERVAL_MS = 250;
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const SYNCHRONOUS_LEVELS = ['off', 'normal', 'full', 'extra'] as const;
/** Rows per read: bounds the memory of a read of a huge stream, and the time one query holds the thread. */
const PAGE_SIZE = 1000;
/**
 * How many of a stream's last events an `any` / `stream_exists` append searches for its first event id.
 * EventStoreDB also only remembers recent ids for these (a bounded cache) and documents them as
 * at-least-once; appends with an exact expected revision are compared with the stream itself and are
 * always idempotent. Without an index on event ids each event searched can cost a page read: about 1.3 µs
 * per event when streams are interleaved, so ~130 µs here against ~200 µs for the commit's fsync.
 */
const IDEMPOTENCY_WINDOW = 100n;
const NO_STREAM = -1n;
const MAX_INT64 = 2n ** 63n - 1n;
/** What an append of no events to a stream with no events returns: nothing was written anywhere. */
const NO_POSITION = positionOf(-1n);
const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Errors after which the same write may well succeed later: locked, disk full, I/O, read-only. */
const UNAVAILABLE = /^SQLITE_(?:BUSY|FULL|IOERR|READONLY|CANTOPEN)(?:_|$)/;

interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string | null;
}

interface PreparedAppend {
  readonly streamId: string;
  readonly expectedRevision: ExpectedRevision;
  readonly events: readonly PreparedEvent[];
}

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
 * The embedded event store: one SQLite file in WAL mode, `synchronous = FULL` so that an acknowledged
 * append has been fsynced. Several processes may open the same file; SQLite serializes their writes.
 */
export class SqliteEventStore implements EventStore {
  private readonly sql: ReturnType<typeof prepareStatements>;
  private readonly appendAll: BetterSqlite3.Transaction<
    (appends: readonly PreparedAppend[], created: number) => AppendOutcome[]
  >;
  private readonly subscriptions = new Set<SqliteSubscription>();
  private readonly appendListeners = new Set<() => void>();
  private readonly subscriptionSource: SubscriptionSource;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly filePath: string,
    pollIntervalMs: number,
  ) {
    this.sql = prepareStatements(db);
    this.appendAll = db.transaction((appends: readonly PreparedAppend[], created: number) =>
      appends.map((append) => this.appendOne(append, created)),
    );
    this.subscriptionSource = {
      readAfter: (after, limit) => this.guard(() => this.sql.allAfter.all(after, limit)),
      pageSize: PAGE_SIZE,
      pollIntervalMs,
      onClose: (subscription) => this.subscriptions.delete(subscription),
    };
  }

  static open(filePath: string, options: SqliteEventStoreOptions = {}): SqliteEventStore {
    const pollIntervalMs = positiveInteger('pollIntervalMs', options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
    const busyTimeoutMs = positiveInteger('busyTimeoutMs', options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new BetterSqlite3(filePath, { timeout: busyTimeoutMs });
      const journalMode = db.pragma('journal_mode = WAL', { simple: true });
      if (journalMode !== 'wal') {
        throw new Error(`${filePath} cannot be put in WAL mode (journal_mode is ${String(journalMode)})`);
      }
      // In WAL mode the default (NORMAL) may lose the last commits on power loss; FULL fsyncs every commit.
      db.pragma('synchronous = FULL');
      db.defaultSafeIntegers(true);
      migrate(db);
      return new SqliteEventStore(db, filePath, pollIntervalMs);
    } catch (error) {
      db?.close();
      throw unavailableOr(error, filePath);
    }
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: { readonly expectedRevision: ExpectedRevision },
  ): Promise<AppendSuccess> {
    const outcome = (await this.appendMany([{ streamId, expectedRevision: options.expectedRevision, events }]))[0]!;
    if (!outcome.ok) throw outcome.error;
    return outcome;
  }

  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    this.assertOpen();
    if (requests.length === 0) return [];
    // Serializing before BEGIN keeps the write lock, which every other process waits on, short.
    const appends = requests.map(prepareAppend);
    const created = Date.now();
    const writes = appends.some((append) => append.events.length > 0);
    // A batch of empty appends only checks revisions: a read snapshot is enough, and works on a read-only file.
    const outcomes = this.guard(() =>
      writes ? this.appendAll.immediate(appends, created) : this.appendAll.deferred(appends, created),
    );
    if (writes) {
      this.noticeAppends();
      for (const listener of this.appendListeners) listener();
    }
    return outcomes;
  }

  /**
   * Calls `listener` after every append through this store that wrote events, so that a follower in
   * another thread can look at once instead of polling. Returns the unsubscribe.
   */
  onAppended(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Another thread or process appended to the file: this store's subscriptions look for it now. */
  noticeAppends(): void {
    for (const subscription of this.subscriptions) subscription.notifyAppended();
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards';
    const statement = backwards ? this.sql.streamBackwards : this.sql.streamForwards;
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    // Backwards from the end starts at the last event; forwards from the end finds nothing.
    let next = from === 'start' ? 0n : from === 'end' ? MAX_INT64 : from;
    let remaining = maxCount(options.maxCount);
    let exists = false;
    for (;;) {
      this.assertOpen();
      const limit = Math.min(PAGE_SIZE, remaining);
      const rows = limit === 0 ? [] : this.guard(() => statement.all(streamId, next, limit));
      exists ||= rows.length > 0 || this.guard(() => this.sql.streamHead.get(streamId)) !== undefined;
      if (!exists) throw new StreamNotFoundError(streamId);
      for (const row of rows) yield toRecordedEvent(row);
      remaining -= rows.length;
      if (rows.length < limit || remaining === 0) return;
      const last = rows[rows.length - 1]!.stream_revision;
      next = backwards ? last - 1n : last + 1n;
    }
  }

  async readAllText(after: bigint, limit: number): Promise<readonly StoredEventText[]> {
    this.assertOpen();
    return this.guard(() => this.sql.allAfterText.all(after, limit));
  }

  /**
   * `readAllText` for one of `shards` disjoint groups of streams, up to `upTo` (inclusive): a replay split
   * over threads gives each thread every event of its streams, in order. The groups come from the stream
   * id's last three characters, which is cheap inside the scan and spreads generated ids well.
   */
  async readAllTextOfShard(after: bigint, upTo: bigint, shard: number, shards: number, limit: number): Promise<readonly StoredEventText[]> {
    this.assertOpen();
    if (!Number.isInteger(shards) || shards < 1 || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
      throw new RangeError(`shard ${shard} of ${shards} is not a shard`);
    }
    return this.guard(() => this.sql.shardAfterText.all(after, upTo, shards, shard, limit));
  }

  /** The file this store was opened on. */
  get file(): string {
    return this.filePath;
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards';
    const from = options.fromPosition ?? (backwards ? 'end' : 'start');
    const statement = backwards ? this.sql.allBefore : this.sql.allAfter;
    // Positions are rowids here, so a bound may be computed from one; the port's users never do that.
    // Backwards reads are exclusive of `bound`, forwards reads start after it.
    let bound: bigint;
    if (backwards) bound = from === 'end' ? MAX_INT64 : from === 'start' ? 0n : from.commit;
    else bound = from === 'start' ? 0n : from === 'end' ? MAX_INT64 : from.commit - 1n;
    let remaining = maxCount(options.maxCount);
    while (remaining > 0) {
      this.assertOpen();
      const limit = Math.min(PAGE_SIZE, remaining);
      const rows = this.guard(() => statement.all(bound, limit));
      for (const row of rows) yield toRecordedEvent(row);
      if (rows.length < limit) return;
      remaining -= rows.length;
      bound = rows[rows.length - 1]!.position;
    }
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    this.assertOpen();
    const head = this.guard(() => this.sql.headPosition.get()) ?? 0n;
    const from = options.fromPosition ?? 'start';
    const after = from === 'start' ? 0n : from === 'end' ? head : from.commit;
    const subscription = new SqliteSubscription(this.subscriptionSource, after, head, streamFilter(options.filter));
    this.subscriptions.add(subscription);
    return subscription;
  }

  async headPosition(): Promise<Position | undefined> {
    this.assertOpen();
    const head = this.guard(() => this.sql.headPosition.get());
    return head === undefined ? undefined : positionOf(head);
  }

  storageSettings(): SqliteStorageSettings {
    this.assertOpen();
    const pragma = (name: string) => this.db.pragma(name, { simple: true });
    return {
      filePath: this.filePath,
      journalMode: String(pragma('journal_mode')),
      synchronous: SYNCHRONOUS_LEVELS[Number(pragma('synchronous'))]!,
      busyTimeoutMs: Number(pragma('busy_timeout')),
      schemaVersion: Number(pragma('user_version')),
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
      this.db.close();
    })();
    return this.closing;
  }

  /** Runs inside the append transaction; sees the effects of the requests before it in the same batch. */
  private appendOne(append: PreparedAppend, created: number): AppendOutcome {
    const fast = this.appendAtExpected(append, created);
    if (fast !== undefined) return fast;
    const { streamId, expectedRevision, events } = append;
    const head = this.sql.streamHead.get(streamId);
    const current = head?.revision ?? NO_STREAM;

    if (events.length === 0) {
      return expectationHolds(expectedRevision, current)
        ? success(streamId, current, head === undefined ? NO_POSITION : positionOf(head.position))
        : conflict(streamId, expectedRevision, current);
    }

    if (expectedRevision === 'any' || expectedRevision === 'stream_exists') {
      if (head === undefined) {
        return expectedRevision === 'any'
          ? this.write(streamId, current, events, created)
          : conflict(streamId, expectedRevision, current);
      }
      const first = this.sql.recentRevisionOfId.get(streamId, current - IDEMPOTENCY_WINDOW, events[0]!.id);
      if (first === undefined) return this.write(streamId, current, events, created);
      // A retry of an earlier append, unless only some of its ids match, which EventStoreDB also refuses.
      return this.earlierAppend(streamId, first, events) ?? conflict(streamId, expectedRevision, current);
    }

    const expected = expectedRevision === 'no_stream' ? NO_STREAM : expectedRevision;
    if (expected === current) return this.write(streamId, current, events, created);
    // The stream has moved past the expected revision: either this append already happened (its ack was
    // lost and it is being retried) and it gets the original answer, or it is a genuine conflict.
    if (expected < current) {
      return this.earlierAppend(streamId, expected + 1n, events) ?? conflict(streamId, expectedRevision, current);
    }
    return conflict(streamId, expectedRevision, current);
  }

  /**
   * The common case, an exact expected revision that holds, in one statement instead of a head query
   * then an insert: the first event goes in only if the expected revision is the stream's last (it
   * exists, and the unique index refuses the next one if it exists too). Undefined when it does not
   * hold: the caller then works out whether it is a retry or a conflict.
   */
  private appendAtExpected({ streamId, expectedRevision, events }: PreparedAppend, created: number): AppendSuccess | undefined {
    if (events.length === 0 || typeof expectedRevision !== 'bigint' && expectedRevision !== 'no_stream') return undefined;
    const first = events[0]!;
    const written =
      expectedRevision === 'no_stream'
        ? this.sql.insertFirst.run(streamId, 0n, first.id, first.type, first.data, first.metadata, created)
        : this.sql.insertAfter.run(streamId, expectedRevision + 1n, first.id, first.type, first.data, first.metadata, created, streamId, expectedRevision);
    if (written.changes === 0) return undefined;
    const revision = expectedRevision === 'no_stream' ? 0n : expectedRevision + 1n;
    if (events.length === 1) return success(streamId, revision, positionOf(BigInt(written.lastInsertRowid)));
    return this.write(streamId, revision, events.slice(1), created);
  }

  /** The original outcome if the stream holds exactly these events from `fromRevision` on. */
  private earlierAppend(
    streamId: string,
    fromRevision: bigint,
    events: readonly PreparedEvent[],
  ): AppendSuccess | undefined {
    const recorded = this.sql.recordedIds.all(streamId, fromRevision, events.length);
    if (recorded.length !== events.length || recorded.some((row, i) => row.id !== events[i]!.id)) return undefined;
    const last = recorded[recorded.length - 1]!;
    return success(streamId, last.revision, positionOf(last.position));
  }

  private write(
    streamId: string,
    current: bigint,
    events: readonly PreparedEvent[],
    created: number,
  ): AppendSuccess {
    let revision = current;
    let position = 0n;
    for (const event of events) {
      revision += 1n;
      const { lastInsertRowid } = this.sql.insert.run(
        streamId,
        revision,
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

  private assertOpen(): void {
    if (this.closing !== undefined) throw new StoreUnavailableError(`SQLite event store ${this.filePath} is closed`);
  }

  private guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw unavailableOr(error, this.filePath);
    }
  }
}

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    insert: db.prepare<[string, bigint, string, string, string, string | null, number]>(
      `INSERT INTO events (stream_id, stream_revision, event_id, type, data, metadata, created)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    // OR IGNORE: a taken (stream, revision) means the stream moved on; the caller finds out how.
    insertFirst: db.prepare<[string, bigint, string, string, string, string | null, number]>(
      `INSERT OR IGNORE INTO events (stream_id, stream_revision, event_id, type, data, metadata, created)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertAfter: db.prepare<[string, bigint, string, string, string, string | null, number, string, bigint]>(
      `INSERT OR IGNORE INTO events (stream_id, stream_revision, event_id, type, data, metadata, created)
       SELECT ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM events WHERE stream_id = ? AND stream_revision = ?)`,
    ),
    streamHead: db.prepare<[string], StreamHead>(
      `SELECT stream_revision AS revision, position FROM events
       WHERE stream_id = ? ORDER BY stream_revision DESC LIMIT 1`,
    ),
    recentRevisionOfId: db
      .prepare<[string, bigint, string], bigint>(
        `SELECT stream_revision FROM events
         WHERE stream_id = ? AND stream_revision > ? AND event_id = ? ORDER BY stream_revision LIMIT 1`,
      )
      .pluck(),
    recordedIds: db.prepare<[string, bigint, number], RecordedId>(
      `SELECT event_id AS id, stream_revision AS revision, position FROM events
       WHERE stream_id = ? AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
    ),
    streamForwards: db.prepare<[string, bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE stream_id = ? AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
    ),
    streamBackwards: db.prepare<[string, bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE stream_id = ? AND stream_revision <= ? ORDER BY stream_revision DESC LIMIT ?`,
    ),
    allAfter: db.prepare<[bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
    ),
    // Only the columns a replay uses: event ids and creation times are most of the rest of a row's cost.
    allAfterText: db.prepare<[bigint, number], StoredEventText>(
      `SELECT position, stream_id AS streamId, stream_revision AS revision, type, data, metadata FROM events
       WHERE position > ? ORDER BY position LIMIT ?`,
    ),
    // coalesce: ids shorter than three characters must still land in exactly one shard.
    shardAfterText: db.prepare<[bigint, bigint, number, number, number], StoredEventText>(
      `SELECT position, stream_id AS streamId, stream_revision AS revision, type, data, metadata FROM events
       WHERE position > ? AND position <= ?
         AND (coalesce(unicode(substr(stream_id, -1, 1)), 0) + 31 * coalesce(unicode(substr(stream_id, -2, 1)), 0)
              + 961 * coalesce(unicode(substr(stream_id, -3, 1)), 0)) % ? = ?
       ORDER BY position LIMIT ?`,
    ),
    allBefore: db.prepare<[bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position < ? ORDER BY position DESC LIMIT ?`,
    ),
    headPosition: db.prepare<[], bigint>('SELECT position FROM events ORDER BY position DESC LIMIT 1').pluck(),
  };
}

function prepareAppend({ streamId, expectedRevision, events }: AppendRequest): PreparedAppend {
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw new TypeError('An append needs a non-empty stream id');
  }
  if (typeof expectedRevision === 'bigint' && expectedRevision < 0n) {
    throw new RangeError(`Expected revision of ${streamId} must not be negative, got ${expectedRevision}`);
  }
  return { streamId, expectedRevision, events: events.map(prepareEvent) };
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

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function maxCount(count: number | undefined): number {
  if (count === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`maxCount must be a whole number, got ${count}`);
  return count;
}

function streamFilter(filter: SubscriptionFilter | undefined): (streamId: string) => boolean {
  if (filter === undefined) return () => true;
  const prefixes = [...filter.streamPrefixes];
  if (prefixes.length === 0) throw new RangeError('A subscription filter needs at least one stream prefix');
  return (streamId) => prefixes.some((prefix) => streamId.startsWith(prefix));
}

function unavailableOr(error: unknown, filePath: string): unknown {
  const code = sqliteCode(error);
  if (code !== undefined && UNAVAILABLE.test(code)) {
    const { message } = error as Error;
    return new StoreUnavailableError(`SQLite event store ${filePath} is unavailable: ${message}`, error);
  }
  return error;
}

/**
 * Recognised by shape, not `instanceof`: the native addon is loaded once per process and throws the
 * SqliteError class of whichever copy of the module initialised it (jest gives each test file its own).
 */
function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return name === 'SqliteError' && typeof code === 'string' ? code : undefined;
}
