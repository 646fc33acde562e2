/**
 * The event-store port. Its semantics are EventStoreDB's, so that the embedded SQLite adapter and the
 * EventStoreDB adapter are interchangeable above it:
 * - a stream's events have revisions 0, 1, 2, … without gaps;
 * - every append carries an expected revision and is atomic (all events or none);
 * - every event has a global position, unique and strictly increasing in commit order ("$all" order),
 *   consistent with each stream's revision order; positions are opaque (never do arithmetic on them);
 * - reads from a revision or a position are inclusive forwards; backwards reads from a position are
 *   exclusive (as EventStoreDB's `$all`);
 * - catch-up subscriptions start *after* the given position (exclusive) and then follow live appends.
 */

export const EVENT_STORE = Symbol('EVENT_STORE');

/** `no_stream`: the stream must not exist; `stream_exists`: it must; a bigint: its last revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export interface EventMetadata {
  readonly [key: string]: unknown;
}

export interface NewEvent {
  /** Lowercase UUID; the store uses it for idempotent appends, as EventStoreDB does. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
}

export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: Position;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata | undefined;
  /** When the store recorded the event (not the business time, which is in the metadata). */
  readonly created: Date;
}

/**
 * An event as stored, its data and metadata still JSON text: for bulk readers (replays) that decode only
 * what they use. `position` is the commit position.
 */
export interface StoredEventText {
  readonly position: bigint;
  readonly streamId: string;
  readonly revision: bigint;
  readonly type: string;
  readonly data: string;
  readonly metadata: string | null;
}

export interface AppendRequest {
  readonly streamId: string;
  readonly expectedRevision: ExpectedRevision;
  readonly events: readonly NewEvent[];
  /**
   * With an exact `expectedRevision`: the id the stream's event at that revision must have, or the append
   * is a conflict. A writer that decides on top of its own appends still in flight names the last event
   * it sent. The revision alone does not tell its events from another writer's: should one of its
   * appends be refused because another writer took those revisions with as many events, the next would
   * otherwise land on top of them, decided on a state the stream never had.
   */
  readonly expectedEventId?: string;
}

/** Refuses an `expectedEventId` that cannot be checked: it needs an exact expected revision. */
export function assertExpectedEventId({ streamId, expectedRevision, expectedEventId }: AppendRequest): void {
  if (expectedEventId === undefined) return;
  if (typeof expectedEventId !== 'string' || expectedEventId.length === 0) {
    throw new TypeError(`The expected event id of an append to ${streamId} must be a non-empty string`);
  }
  if (typeof expectedRevision !== 'bigint') {
    throw new TypeError(`An append to ${streamId} names the event it follows, so it needs an exact expected revision, not ${String(expectedRevision)}`);
  }
}

export interface AppendSuccess {
  readonly ok: true;
  readonly streamId: string;
  /** The revision of the last event now in the stream; -1n if an append of no events found no stream. */
  readonly nextExpectedRevision: bigint;
  /**
   * The position of the last event written. An append of no events writes nothing and returns the
   * position of the stream's last event, or commit = prepare = -1n if the stream has none.
   */
  readonly position: Position;
}

export interface AppendConflict {
  readonly ok: false;
  readonly streamId: string;
  readonly error: WrongExpectedRevisionError;
}

export type AppendOutcome = AppendSuccess | AppendConflict;

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive. Defaults to the start (forwards) or the end (backwards). */
  readonly fromRevision?: bigint | 'start' | 'end';
  readonly direction?: Direction;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Forwards: inclusive. Backwards: exclusive. Defaults to the start (forwards) or the end (backwards). */
  readonly fromPosition?: Position | 'start' | 'end';
  readonly direction?: Direction;
  readonly maxCount?: number;
}

export interface SubscriptionFilter {
  /** Only events of streams whose id starts with one of these prefixes. */
  readonly streamPrefixes: readonly string[];
}

export interface SubscribeToAllOptions {
  /** Exclusive: the subscription delivers events after this position. Defaults to the start. */
  readonly fromPosition?: Position | 'start' | 'end';
  readonly filter?: SubscriptionFilter;
}

/**
 * A catch-up subscription: an async iterator of events; `caughtUp` resolves the first time the
 * subscription has delivered everything that existed when it was opened. `close()` ends iteration.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  readonly caughtUp: Promise<void>;
  close(): Promise<void>;
}

export interface EventStore {
  /** Appends atomically, or throws `WrongExpectedRevisionError`. */
  appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: { readonly expectedRevision: ExpectedRevision },
  ): Promise<AppendSuccess>;

  /**
   * Appends to several streams. Each stream's append is checked and applied on its own (one conflict
   * does not fail the others); adapters that can (SQLite) commit them all in one durable transaction.
   * Outcomes are in the order of the requests.
   */
  appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]>;

  /**
   * Throws `StreamNotFoundError` when the stream has no event. Like `readAll`, a read of many events lets
   * the rest of the process run while it goes on (it does not hold the event loop from start to end).
   */
  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;

  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;

  subscribeToAll(options?: SubscribeToAllOptions): Subscription;

  /**
   * Optional bulk read for replays: up to `limit` events of `$all` with a commit position above `after`
   * (-1n: from the start), forwards, undecoded. Adapters offer it where it is much cheaper than `readAll`.
   */
  readAllText?(after: bigint, limit: number): Promise<readonly StoredEventText[]>;

  /**
   * Optional bulk read of one stream: up to `limit` of its events from `fromRevision` (inclusive), forwards,
   * undecoded; none when the stream has no such event (it need not exist).
   */
  readStreamText?(streamId: string, fromRevision: bigint, limit: number): Promise<readonly StoredEventText[]>;

  /**
   * Optional: the ids of the streams whose id starts with `prefix`, each once, in id order. Adapters offer
   * it where they can list streams without reading their events (for a verification account by account).
   */
  streamIds?(prefix: string): Promise<readonly string[]>;

  /** The position of the last event in the store, or undefined when the store is empty. */
  headPosition(): Promise<Position | undefined>;

  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  readonly code = 'WRONG_EXPECTED_REVISION';
  constructor(
    readonly streamId: string,
    readonly expectedRevision: ExpectedRevision,
    /** The stream's last revision, or 'no_stream'. */
    readonly actualRevision: bigint | 'no_stream',
  ) {
    super(
      `Append to ${streamId} expected revision ${String(expectedRevision)} but the stream is at ${String(actualRevision)}`,
    );
    this.name = 'WrongExpectedRevisionError';
  }
}

export class StreamNotFoundError extends Error {
  readonly code = 'STREAM_NOT_FOUND';
  constructor(readonly streamId: string) {
    super(`Stream ${streamId} not found`);
    this.name = 'StreamNotFoundError';
  }
}

/** The store cannot be reached or cannot write right now; the command may be retried. */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export function positionOf(commit: bigint): Position {
  return { commit, prepare: commit };
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Collects an async iterable; handy for small reads and tests. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
