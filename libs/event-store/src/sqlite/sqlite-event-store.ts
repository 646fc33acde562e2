import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import {
  positionOf,
  StoreUnavailableError,
  StreamNotFoundError,
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
import { CommitSignal } from './commit-signal.js';
import { prepareAppend, SqliteAppender, storedEvents, type PreparedAppend } from './sqlite-append.js';
import { SqliteAppendThread } from './sqlite-append.thread.js';
import { SqliteCheckpointThread } from './sqlite-checkpoint.thread.js';
import { openConnection, unavailableOr } from './sqlite-connection.js';
import {
  EVENT_COLUMNS,
  EVENT_TEXT_COLUMNS,
  migrate,
  toRecordedEvent,
  toStoredEventText,
  type EventRow,
  type EventTextRow,
} from './sqlite-schema.js';
import { SqliteSubscription, type SubscriptionSource } from './sqlite-subscription.js';

/**
 * Streams by their numbers in the store, which follow the order the streams were created: from `from`
 * (inclusive; undefined: from the first) to `to` (exclusive; undefined: to the last).
 */
export interface StreamRange {
  readonly from: bigint | undefined;
  readonly to: bigint | undefined;
}

export interface SqliteEventStoreOptions {
  /** How often a subscription at the head looks for appends made by another process. Default 250. */
  readonly pollIntervalMs?: number;
  /** How long a write waits for another process's write lock before giving up. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Run appends' transactions, and the fsync of their commits, in a worker thread with a connection of
   * its own, so that this thread keeps working (serving requests, deciding commands) while a commit is
   * written. Validation and JSON encoding stay on the calling thread. Appends are run one after the
   * other, in the order they were made, each in its own transaction. Needs the compiled worker module
   * (`npm run build`); `open` throws without it. Default false: appends run on the calling thread.
   *
   * With an append thread, checkpoints (copying the WAL's committed pages back into the database file)
   * run in a thread of their own too, instead of after the commit that makes the WAL 1,000 frames long.
   */
  readonly appendThread?: boolean;
  /**
   * With `appendThread`: how often the checkpoint thread copies what was committed since its last
   * checkpoint. The longer, the more of a page's rewrites one copy covers. Default 250.
   */
  readonly checkpointIntervalMs?: number;
  /**
   * With `appendThread`: how long the WAL may grow, in frames (pages), before the append thread's own
   * connection checkpoints what the checkpoint thread has not copied yet. SQLite starts writing the WAL
   * from its beginning again only when a write begins with every frame copied, which under steady load
   * a checkpoint running beside the appends never leaves; this is when the append thread makes it so.
   * A WAL file that grew past twice this (a reader kept it from starting again) is cut back to that
   * size when it starts again. Default 10,000.
   */
  readonly walFrameLimit?: number;
}

/** What the connection actually runs with, for start-up logs and health checks. */
export interface SqliteStorageSettings {
  readonly filePath: string;
  readonly journalMode: string;
  readonly synchronous: 'off' | 'normal' | 'full' | 'extra';
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
}

/** Runs one batch of prepared appends in one transaction; throws what SQLite threw. */
type RunAppends = (appends: readonly PreparedAppend[], created: number) => AppendOutcome[] | Promise<AppendOutcome[]>;

const DEFAULT_POLL_INTERVAL_MS = 250;
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_CHECKPOINT_INTERVAL_MS = 250;
const DEFAULT_WAL_FRAME_LIMIT = 10_000;
const SYNCHRONOUS_LEVELS = ['off', 'normal', 'full', 'extra'] as const;
/**
 * Rows per read: bounds the memory of a read of a huge stream, and the time one query holds the thread.
 * The reader folds a page before the next turn of the event loop too: a balance `asOf` folding pages of
 * 1,000 events held the thread 21-30 ms at a time, 10-14 ms with 250.
 */
const PAGE_SIZE = 250;
/** Stream ids listed between two turns of the event loop (one index seek each). */
const STREAM_IDS_PER_TURN = 10_000;
const MAX_INT64 = 2n ** 63n - 1n;
/** Positions sampled for each range `streamRanges` makes: one index seek each; the ranges' shares of the events are within a few percent. */
const RANGE_SAMPLES_PER_RANGE = 256;

/**
 * The embedded event store: one SQLite file in WAL mode, `synchronous = FULL` so that an acknowledged
 * append has been fsynced. Several processes may open the same file; SQLite serializes their writes.
 */
export class SqliteEventStore implements EventStore {
  private readonly sql: ReturnType<typeof prepareStatements>;
  private readonly runAppends: RunAppends;
  private readonly subscriptions = new Set<SqliteSubscription>();
  private readonly subscriptionSource: SubscriptionSource;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly filePath: string,
    pollIntervalMs: number,
    private readonly appendThread: SqliteAppendThread | undefined,
    private readonly checkpointThread: SqliteCheckpointThread | undefined,
    /**
     * Counts this store's commits that wrote events (`CommitSignal`), bumped by the thread that commits
     * them: the append thread when there is one, this one otherwise. Another thread follows it to learn
     * of appends through this store without polling, and without this thread sending it anything. It may
     * find nothing new: an append that repeats one already stored succeeds without writing.
     */
    readonly commitSignal: Int32Array,
  ) {
    this.sql = prepareStatements(db);
    if (appendThread === undefined) {
      const appender = new SqliteAppender(db);
      this.runAppends = (appends, created) => appender.append(appends, created);
    } else {
      this.runAppends = (appends, created) => appendThread.append(appends, created);
    }
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
    const intervalMs = positiveInteger('checkpointIntervalMs', options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS);
    const walFrameLimit = positiveInteger('walFrameLimit', options.walFrameLimit ?? DEFAULT_WAL_FRAME_LIMIT);
    let db: BetterSqlite3.Database | undefined;
    let appendThread: SqliteAppendThread | undefined;
    try {
      db = openConnection(filePath, busyTimeoutMs);
      migrate(db);
      const commitSignal = CommitSignal.create();
      if (!options.appendThread) return new SqliteEventStore(db, filePath, pollIntervalMs, undefined, undefined, commitSignal);
      // Started once the schema is in place: the threads only append and checkpoint.
      appendThread = SqliteAppendThread.start({ filePath, busyTimeoutMs, commitSignal, walFrameLimit });
      const checkpointThread = SqliteCheckpointThread.start({ filePath, busyTimeoutMs, commitSignal, intervalMs });
      return new SqliteEventStore(db, filePath, pollIntervalMs, appendThread, checkpointThread, commitSignal);
    } catch (error) {
      void appendThread?.stop();
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
    let outcomes: AppendOutcome[];
    try {
      // The prepared appends (the events' JSON) are not kept while the append is in flight.
      outcomes = await this.runAppends(requests.map(prepareAppend), Date.now());
    } catch (error) {
      throw unavailableOr(error, this.filePath);
    }
    if (storedEvents(requests, outcomes)) this.announceAppend();
    return outcomes;
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards';
    const statement = backwards ? this.sql.streamBackwards : this.sql.streamForwards;
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    // Backwards from the end starts at the last event; forwards from the end finds nothing.
    let next = from === 'start' ? 0n : from === 'end' ? MAX_INT64 : from;
    let remaining = maxCount(options.maxCount);
    let exists = false;
    for (let page = 0; ; page++) {
      // Each page is read at once: between pages the rest of the process runs (see `readAll`).
      if (page > 0) await yieldToEventLoop();
      this.assertOpen();
      const limit = Math.min(PAGE_SIZE, remaining);
      const rows = limit === 0 ? [] : this.guard(() => statement.all(streamId, next, limit));
      exists ||= rows.length > 0 || this.guard(() => this.sql.streamExists.get(streamId)) !== undefined;
      if (!exists) throw new StreamNotFoundError(streamId);
      for (const row of rows) yield toRecordedEvent(row);
      remaining -= rows.length;
      if (rows.length < limit || remaining === 0) return;
      const last = rows[rows.length - 1]![2];
      next = backwards ? last - 1n : last + 1n;
    }
  }

  async readAllText(after: bigint, limit: number): Promise<readonly StoredEventText[]> {
    this.assertOpen();
    return this.guard(() => this.sql.allAfterText.all(after, limit).map(toStoredEventText));
  }

  async readStreamText(streamId: string, fromRevision: bigint, limit: number): Promise<readonly StoredEventText[]> {
    this.assertOpen();
    return this.guard(() => this.sql.streamForwardsText.all(streamId, fromRevision, limit).map(toStoredEventText));
  }

  async streamIds(prefix: string): Promise<readonly string[]> {
    // One seek of the streams' id index a stream, and a turn of the event loop every STREAM_IDS_PER_TURN.
    const ids: string[] = [];
    let id = this.guard(() => this.sql.firstStreamIdFrom.get(prefix));
    while (id !== undefined && id.startsWith(prefix)) {
      ids.push(id);
      if (ids.length % STREAM_IDS_PER_TURN === 0) await yieldToEventLoop();
      this.assertOpen();
      const after = id;
      id = this.guard(() => this.sql.nextStreamIdAfter.get(after));
    }
    return ids;
  }

  /**
   * At most `count` contiguous ranges of streams, together every stream, that share the events up to
   * `upTo` about evenly, for a replay split over threads: each thread reads the streams of one range
   * (`readStreamRangeText`). The streams are weighed by how often they are found at evenly spaced
   * positions, so a stream weighs as many events as it holds. A stream is never split: a stream holding
   * most of the events is a range of its own, and there are fewer ranges than asked when there are too few
   * streams to share.
   */
  async streamRanges(upTo: bigint, count: number): Promise<readonly StreamRange[]> {
    this.assertOpen();
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${count} ranges of streams`);
    const weights = new Map<bigint, number>();
    const samples = count === 1 || upTo < 1n ? 0 : RANGE_SAMPLES_PER_RANGE * count;
    let found = 0;
    for (let i = 1; i <= samples; i++) {
      const stream = this.guard(() => this.sql.streamAtOrAfter.get((upTo * BigInt(i)) / BigInt(samples + 1), upTo));
      if (stream === undefined) continue;
      weights.set(stream, (weights.get(stream) ?? 0) + 1);
      found += 1;
    }
    const ids = [...weights.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // Each range ends after the stream that brings it nearest its share of what the ranges before left.
    const bounds: bigint[] = [];
    let taken = 0;
    let sum = 0;
    for (let i = 0; i < ids.length - 1 && bounds.length < count - 1; i++) {
      sum += weights.get(ids[i]!)!;
      const share = taken + (found - taken) / (count - bounds.length);
      if (sum >= share || share - sum < sum + weights.get(ids[i + 1]!)! - share) {
        bounds.push(ids[i + 1]!);
        taken = sum;
      }
    }
    return Array.from({ length: bounds.length + 1 }, (_, i) => ({ from: i === 0 ? undefined : bounds[i - 1], to: bounds[i] }));
  }

  /**
   * The events up to `upTo` (inclusive) of the streams in `range`, as text, stream after stream in the
   * order of their numbers and each stream in revision order, in pages of `pageSize`. Read through the
   * stream index, so a reader of one range never steps over the others' rows; each page starts after the
   * last stream and revision of the one before.
   */
  async *readStreamRangeText(range: StreamRange, upTo: bigint, pageSize: number): AsyncGenerator<readonly StoredEventText[]> {
    // The first page starts at revision 0 of the range's first stream: revisions are never negative.
    let stream = range.from ?? 0n;
    let revision = -1n;
    for (;;) {
      this.assertOpen();
      const page = this.guard(() =>
        (range.to === undefined
          ? this.sql.rangeAfterText.all(stream, revision, upTo, pageSize)
          : this.sql.rangeBeforeText.all(stream, revision, range.to, upTo, pageSize)
        ).map(toStoredEventText),
      );
      if (page.length > 0) yield page;
      if (page.length < pageSize) return;
      // The last stream's number is looked up once a page, rather than read with every row.
      const last = page[page.length - 1]!;
      stream = this.guard(() => this.sql.streamNumber.get(last.streamId))!;
      revision = last.revision;
    }
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
    for (let page = 0; remaining > 0; page++) {
      // A page is read at once. A long read, such as an audit's fold over the whole ledger, waits for the
      // next turn of the event loop before each further page: without it, a million events held up every
      // request for ten seconds.
      if (page > 0) await yieldToEventLoop();
      this.assertOpen();
      const limit = Math.min(PAGE_SIZE, remaining);
      const rows = this.guard(() => statement.all(bound, limit));
      for (const row of rows) yield toRecordedEvent(row);
      if (rows.length < limit) return;
      remaining -= rows.length;
      bound = rows[rows.length - 1]![0];
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

  /** Waits for outstanding appends, then ends subscriptions, stops the append and checkpoint threads and closes the file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([
        this.appendThread?.stop(),
        this.checkpointThread?.stop(),
        ...[...this.subscriptions].map((subscription) => subscription.close()),
      ]);
      this.db.close();
    })();
    return this.closing;
  }

  private announceAppend(): void {
    for (const subscription of this.subscriptions) subscription.notifyAppended();
    // The append thread has bumped it already, right after its commit.
    if (this.appendThread === undefined) CommitSignal.bump(this.commitSignal);
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

/** A stream's number from its id (`streams`), as a scalar subquery of a statement reading its events. */
const STREAM_NUMBER = 'SELECT stream_no FROM streams WHERE stream_id = ?';

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    // A stream has a row in `streams` from its first event on.
    streamExists: db.prepare<[string], bigint>('SELECT 1 FROM streams WHERE stream_id = ?').pluck(),
    streamNumber: db.prepare<[string], bigint>(STREAM_NUMBER).pluck(),
    firstStreamIdFrom: db.prepare<[string], string>('SELECT stream_id FROM streams WHERE stream_id >= ? ORDER BY stream_id LIMIT 1').pluck(),
    nextStreamIdAfter: db.prepare<[string], string>('SELECT stream_id FROM streams WHERE stream_id > ? ORDER BY stream_id LIMIT 1').pluck(),
    // The stream's number is looked up once a statement, then the stream index is searched with it.
    streamForwards: db.prepare<[string, bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE stream_no = (${STREAM_NUMBER}) AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
    ).raw(),
    streamBackwards: db.prepare<[string, bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE stream_no = (${STREAM_NUMBER}) AND stream_revision <= ? ORDER BY stream_revision DESC LIMIT ?`,
    ).raw(),
    streamForwardsText: db
      .prepare<[string, bigint, number], EventTextRow>(
        `SELECT ${EVENT_TEXT_COLUMNS} FROM events
         WHERE stream_no = (${STREAM_NUMBER}) AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
      )
      .raw(),
    allAfter: db.prepare<[bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
    ).raw(),
    // Only the columns a replay uses: event ids and creation times are most of the rest of a row's cost.
    allAfterText: db
      .prepare<[bigint, number], EventTextRow>(`SELECT ${EVENT_TEXT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`)
      .raw(),
    // Row values: SQLite seeks the index to the pair, so each page starts where the last one ended.
    rangeAfterText: db
      .prepare<[bigint, bigint, bigint, number], EventTextRow>(
        `SELECT ${EVENT_TEXT_COLUMNS} FROM events
         WHERE (stream_no, stream_revision) > (?, ?) AND position <= ?
         ORDER BY stream_no, stream_revision LIMIT ?`,
      )
      .raw(),
    rangeBeforeText: db
      .prepare<[bigint, bigint, bigint, bigint, number], EventTextRow>(
        `SELECT ${EVENT_TEXT_COLUMNS} FROM events
         WHERE (stream_no, stream_revision) > (?, ?) AND stream_no < ? AND position <= ?
         ORDER BY stream_no, stream_revision LIMIT ?`,
      )
      .raw(),
    streamAtOrAfter: db
      .prepare<[bigint, bigint], bigint>('SELECT stream_no FROM events WHERE position >= ? AND position <= ? ORDER BY position LIMIT 1')
      .pluck(),
    allBefore: db.prepare<[bigint, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position < ? ORDER BY position DESC LIMIT ?`,
    ).raw(),
    headPosition: db.prepare<[], bigint>('SELECT position FROM events ORDER BY position DESC LIMIT 1').pluck(),
  };
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
