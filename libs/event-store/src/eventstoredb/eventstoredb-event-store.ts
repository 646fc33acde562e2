import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  streamNameFilter,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type AppendResult,
  type StreamingRead,
} from '@eventstore/db-client';
import {
  comparePositions,
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
  type RecordedEvent,
  type SubscribeToAllOptions,
  type Subscription,
  type SubscriptionFilter,
} from '../event-store.port.js';
import { withTimeout } from '../with-timeout.js';
import { classifyFailure, describeError } from './eventstoredb-errors.js';
import { isSystemStream, prepareAppend, toRecordedEvent, type PreparedAppend } from './eventstoredb-events.js';
import {
  EventStoreDbSubscription,
  type CheckpointListener,
  type SubscriptionConnector,
} from './eventstoredb-subscription.js';

export type { CheckpointListener } from './eventstoredb-subscription.js';

export interface EventStoreDbEventStoreOptions {
  /**
   * How long an append may go unanswered before it is reported as `StoreUnavailableError` (outcome unknown).
   * Also sent to the server as the append's deadline. Default 10 000, the client's own default.
   */
  readonly appendTimeoutMs?: number;
  /** How long a read may wait for the server's next message before it is abandoned. Default 30 000. */
  readonly readTimeoutMs?: number;
  /** The first wait before a dropped subscription tries again; it doubles after each failure. Default 100. */
  readonly minRetryDelayMs?: number;
  /** The longest wait between two attempts of a subscription to come back. Default 5 000. */
  readonly maxRetryDelayMs?: number;
  /**
   * Sends every call with `requires-leader`, so that after a leader election a node that is no longer the
   * leader answers "not leader", and the client moves to the new leader, instead of serving reads that may
   * lag behind the appends. Default true.
   */
  readonly requireLeader?: boolean;
}

export interface EventStoreDbSubscribeToAllOptions extends SubscribeToAllOptions {
  /**
   * Called with a position up to which every matching event has been delivered and the consumer has asked
   * for the next one, for a consumer to persist as where to resume from (exclusive). EventStoreDB sends
   * them every 32 events it considers, matching or not, so a consumer of a rarely matching filter need not
   * rescan everything since its last event after a restart. Awaited before the next event is delivered.
   */
  readonly onCheckpoint?: CheckpointListener;
}

const DEFAULT_APPEND_TIMEOUT_MS = 10_000;
const DEFAULT_READ_TIMEOUT_MS = 30_000;
const DEFAULT_MIN_RETRY_DELAY_MS = 100;
const DEFAULT_MAX_RETRY_DELAY_MS = 5_000;
/** How long a read its consumer left is still read from, so that its call can end (see `release`). */
const RELEASE_MS = 1_000;

/**
 * Lets go of a read its consumer left before the end. The call is cancelled, and what the client gets
 * until it ends is read and dropped. The client pipes the call into the stream it returns; destroying that
 * stream leaves the call paused, and a call the server had finished (cancelling it then does nothing) never
 * ends while its last messages are unread. The client's `dispose()`, in `close()`, waits for every call to
 * end: it waited forever. After `RELEASE_MS` without an end, the stream is destroyed: by then the cancelled
 * call has failed, which ends it.
 */
function release<T>(read: StreamingRead<T>, iterator: AsyncIterator<T>): void {
  read.cancel().catch(ignore);
  void (async () => {
    try {
      for (;;) {
        const step = await withTimeout(iterator.next(), RELEASE_MS, () => new Error('the read did not end'));
        if (step.done) return;
      }
    } catch {
      // Not `iterator.return()`: it would wait for the `next()` still pending, which may never settle.
      read.destroy();
    }
  })();
}

/** Beyond the append's deadline: time for the server's own "timed out" answer to arrive first. */
const ANSWER_GRACE_MS = 2_000;
/** Events per read of `$all`: `$all` is read in pages so that the system events it skips count for nothing. */
const PAGE_SIZE = 1000;
/** A page is never smaller than this, so that a small `maxCount` behind many system events is not a read each. */
const MIN_PAGE_SIZE = 100;
const NO_STREAM_REVISION = -1n;
/** What an append of no events to a stream with no events returns: nothing was written anywhere. */
const NO_POSITION = positionOf(-1n);
const ignore = (): void => undefined;

/**
 * The event store on EventStoreDB (or KurrentDB) through `@eventstore/db-client`, the only place that
 * imports the client.
 *
 * Failures and retries. Whenever the server cannot be reached, goes away, is not the leader any more or
 * does not answer in time, calls fail with `StoreUnavailableError`, which callers may retry. For an append
 * that means "outcome unknown": it may have been written. Callers retry it as it was, with the same event
 * ids and expected revision, and EventStoreDB's idempotent appends make that safe: an append whose events
 * are already in the stream after the expected revision gets the original result and writes nothing. (With
 * `any` or `stream_exists`, EventStoreDB only recognises the retry while it still remembers the ids, which
 * the ledger never relies on: it always appends with an exact expected revision.) The client reconnects by
 * itself on the next call; subscriptions resubscribe (see `EventStoreDbSubscription`).
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly subscriptions = new Set<EventStoreDbSubscription>();
  /**
   * Per stream, the last append this store sent to it that is still being answered, settling with the
   * event it stored last (undefined if it stored nothing): the stream's next append waits for it.
   */
  private readonly appending = new Map<string, Promise<StoredEvent | undefined>>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly client: EventStoreDBClient,
    private readonly settings: Required<EventStoreDbEventStoreOptions>,
  ) {}

  /**
   * Nothing is sent until the first call: the store can be created while the server is still starting, and
   * reports `StoreUnavailableError` until it is up. Use `headPosition()` to check the connection.
   * @param connectionString e.g. `esdb://localhost:2113?tls=false`, `esdb+discover://cluster.local:2113`
   */
  static connect(connectionString: string, options: EventStoreDbEventStoreOptions = {}): EventStoreDbEventStore {
    const settings: Required<EventStoreDbEventStoreOptions> = {
      appendTimeoutMs: positiveInteger('appendTimeoutMs', options.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS),
      readTimeoutMs: positiveInteger('readTimeoutMs', options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
      minRetryDelayMs: positiveInteger('minRetryDelayMs', options.minRetryDelayMs ?? DEFAULT_MIN_RETRY_DELAY_MS),
      maxRetryDelayMs: positiveInteger('maxRetryDelayMs', options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS),
      requireLeader: options.requireLeader ?? true,
    };
    if (settings.maxRetryDelayMs < settings.minRetryDelayMs) {
      throw new RangeError('maxRetryDelayMs must not be less than minRetryDelayMs');
    }
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(connectionString), settings);
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: { readonly expectedRevision: ExpectedRevision },
  ): Promise<AppendSuccess> {
    this.assertOpen();
    const outcome = await this.appendOne(prepareAppend({ streamId, expectedRevision: options.expectedRevision, events }));
    if (!outcome.ok) throw outcome.error;
    return outcome;
  }

  /**
   * EventStoreDB has no transaction across streams: each stream's append is atomic on its own, and they are
   * sent together (the client multiplexes them over one BatchAppend call). Requests for the same stream are
   * sent one after the other, in order, so that a later one is checked against the result of an earlier one;
   * across calls too, so that an append naming the event it follows (`expectedEventId`) is checked against
   * the answer to the append that wrote that event, without a read.
   *
   * If the outcome of any append is unknown, this throws `StoreUnavailableError` once all have settled:
   * some of the batch may be written and some not, and the caller retries the whole batch as it was, which
   * the idempotent appends make safe. After such a failure, later requests for the same stream are not sent,
   * so that a retry cannot write a stream's events out of order.
   */
  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    this.assertOpen();
    const appends = requests.map(prepareAppend);
    const byStream = new Map<string, number[]>();
    for (const [index, { request }] of appends.entries()) {
      const indexes = byStream.get(request.streamId);
      if (indexes === undefined) byStream.set(request.streamId, [index]);
      else indexes.push(index);
    }

    const outcomes: (AppendOutcome | undefined)[] = new Array(appends.length);
    const unknown: unknown[] = [];
    const refused: unknown[] = [];
    await Promise.all(
      [...byStream.entries()].map(async ([streamId, indexes]) => {
        const previous = this.appending.get(streamId);
        let settle!: (stored: StoredEvent | undefined) => void;
        const mine = new Promise<StoredEvent | undefined>((resolve) => (settle = resolve));
        this.appending.set(streamId, mine);
        let stored = previous === undefined ? undefined : await previous;
        try {
          for (const index of indexes) {
            const append = appends[index]!;
            const outcome = await this.appendOne(append, stored);
            outcomes[index] = outcome;
            // An append of no events (a check) leaves the stream as it was: what the one before stored still holds.
            if (!outcome.ok) stored = undefined;
            else if (append.events.length > 0) stored = { revision: outcome.nextExpectedRevision, id: append.events.at(-1)!.id };
          }
        } catch (error) {
          stored = undefined;
          (error instanceof StoreUnavailableError ? unknown : refused).push(error);
        } finally {
          settle(stored);
          if (this.appending.get(streamId) === mine) this.appending.delete(streamId);
        }
      }),
    );

    if (unknown.length > 0) {
      const answered = outcomes.filter((outcome) => outcome !== undefined).length;
      throw new StoreUnavailableError(
        `${appends.length - answered} of ${appends.length} appends have an unknown outcome or were not sent: ` +
          `retry the batch with the same event ids. ${(unknown[0] as Error).message}`,
        unknown[0],
      );
    }
    if (refused.length > 0) throw refused[0];
    return outcomes as AppendOutcome[];
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    if (typeof from === 'bigint' && from < 0n) throw new RangeError(`fromRevision must not be negative, got ${from}`);
    const count = maxCount(options.maxCount);
    // A read of no events still has to tell a missing stream: read one and drop it.
    const reads = this.read(
      () =>
        this.client.readStream(streamId, {
          fromRevision: from === 'start' ? START : from === 'end' ? END : from,
          direction: backwards ? BACKWARDS : FORWARDS,
          maxCount: count === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : Math.max(count, 1),
          requiresLeader: this.settings.requireLeader,
        }),
      streamId,
    );
    let remaining = count;
    for await (const resolved of reads) {
      if (remaining === 0) continue;
      if (resolved.event === undefined) continue;
      remaining -= 1;
      yield toRecordedEvent(resolved.event);
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards';
    let from = options.fromPosition ?? (backwards ? 'end' : 'start');
    let remaining = maxCount(options.maxCount);
    // The position of an append of no events (-1) is before every event; EventStoreDB would refuse it.
    if (typeof from === 'object' && from.commit < 0n) {
      if (backwards) return;
      from = 'start';
    }
    // Forwards, a page starts with the last event of the page before it (reads from a position include it).
    let repeated: Position | undefined;
    while (remaining > 0) {
      const pageSize = Math.min(PAGE_SIZE, Math.max(remaining, MIN_PAGE_SIZE));
      const start = from;
      let read = 0;
      let last: Position | undefined;
      const page = this.read(() =>
        this.client.readAll({
          fromPosition: start === 'start' ? START : start === 'end' ? END : start,
          direction: backwards ? BACKWARDS : FORWARDS,
          maxCount: pageSize,
          requiresLeader: this.settings.requireLeader,
        }),
      );
      for await (const resolved of page) {
        read += 1;
        const raw = resolved.event;
        if (raw === undefined) continue;
        last = raw.position;
        if (read === 1 && repeated !== undefined && comparePositions(raw.position, repeated) === 0) continue;
        if (isSystemStream(raw.streamId)) continue;
        yield toRecordedEvent(raw);
        remaining -= 1;
        if (remaining === 0) return;
      }
      if (read < pageSize || last === undefined) return;
      from = last;
      repeated = backwards ? undefined : last;
    }
  }

  subscribeToAll(options: EventStoreDbSubscribeToAllOptions = {}): Subscription {
    this.assertOpen();
    const prefixes = streamPrefixes(options.filter);
    let from = options.fromPosition ?? 'start';
    if (typeof from === 'object' && from.commit < 0n) from = 'start';
    const matches =
      prefixes === undefined
        ? () => true
        : (streamId: string) => prefixes.some((prefix) => streamId.startsWith(prefix));
    const subscription = new EventStoreDbSubscription(
      this.subscriptionConnector(prefixes),
      from,
      matches,
      options.onCheckpoint,
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** The position of the last application event; system events written after it do not count. */
  async headPosition(): Promise<Position | undefined> {
    for await (const event of this.readAll({ direction: 'backwards', maxCount: 1 })) return event.position;
    return undefined;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
      // Cancels every call still open; appends still waiting for their answer fail as unknown outcomes.
      await this.client.dispose();
    })();
    return this.closing;
  }

  /** `before`: the last event an earlier append of this store to the stream stored, when it is known. */
  private async appendOne({ request, events }: PreparedAppend, before?: StoredEvent): Promise<AppendOutcome> {
    const { streamId, expectedRevision, expectedEventId } = request;
    // EventStoreDB has no such condition on an append: the answer to the append before says whether it
    // stored that event there, or else a read does. A stream's events never change, so the event is still
    // there when the append's own revision check passes.
    const follows = before !== undefined && before.revision === expectedRevision && before.id === expectedEventId;
    if (expectedEventId !== undefined && !follows && !(await this.holdsEventAt(streamId, expectedRevision as bigint, expectedEventId))) {
      const last = await this.lastEventOf(streamId);
      return conflict(streamId, expectedRevision, last?.revision ?? 'no_stream');
    }
    // Sent to the server, an append of no events would come back with a revision of 0 for a stream that does
    // not exist (a client quirk); it writes nothing, so checking the expectation against a read is the same.
    if (events.length === 0) return this.checkExpectedRevision(streamId, expectedRevision);

    let result: AppendResult;
    try {
      result = await withTimeout(
        this.client.appendToStream(streamId, [...events], {
          expectedRevision: toClientExpectedRevision(expectedRevision),
          deadline: this.settings.appendTimeoutMs,
          requiresLeader: this.settings.requireLeader,
        }),
        this.settings.appendTimeoutMs + ANSWER_GRACE_MS,
        () =>
          new StoreUnavailableError(
            `EventStoreDB did not answer an append to ${streamId} within ${this.settings.appendTimeoutMs} ms; ` +
              'it may or may not have been written: retry it with the same event ids',
          ),
      );
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      const failure = classifyFailure(error);
      switch (failure.kind) {
        case 'conflict':
          return conflict(streamId, expectedRevision, failure.actualRevision);
        case 'unavailable':
          throw new StoreUnavailableError(
            `EventStoreDB is unavailable (${describeError(error)}); the append to ${streamId} may or may not ` +
              'have been written: retry it with the same event ids',
            error,
          );
        case 'refused':
        case 'stream-not-found':
          throw new Error(`EventStoreDB refused the append to ${streamId}: ${describeError(error)}`, { cause: error });
        default:
          throw error;
      }
    }

    // Only with `throwOnAppendFailure=false` in the connection string, where the client (6.2.1) reports a
    // wrong revision for BatchAppend conflicts: ask the stream itself.
    if (!result.success) {
      const last = await this.lastEventOf(streamId);
      return conflict(streamId, expectedRevision, last?.revision ?? 'no_stream');
    }
    const position = result.position ?? (await this.positionOf(streamId, result.nextExpectedRevision));
    return { ok: true, streamId, nextExpectedRevision: result.nextExpectedRevision, position };
  }

  private async checkExpectedRevision(streamId: string, expected: ExpectedRevision): Promise<AppendOutcome> {
    const last = await this.lastEventOf(streamId);
    const current = last?.revision ?? NO_STREAM_REVISION;
    const holds =
      expected === 'any' ||
      (expected === 'no_stream' && current === NO_STREAM_REVISION) ||
      (expected === 'stream_exists' && current !== NO_STREAM_REVISION) ||
      expected === current;
    if (!holds) return conflict(streamId, expected, last?.revision ?? 'no_stream');
    return { ok: true, streamId, nextExpectedRevision: current, position: last?.position ?? NO_POSITION };
  }

  private async holdsEventAt(streamId: string, revision: bigint, eventId: string): Promise<boolean> {
    const event = await this.eventAt(streamId, { fromRevision: revision, maxCount: 1 });
    return event?.revision === revision && event.id === eventId;
  }

  private lastEventOf(streamId: string): Promise<RecordedEvent | undefined> {
    return this.eventAt(streamId, { direction: 'backwards', maxCount: 1 });
  }

  /** Servers answer appends with the position of their last event; this is for one that did not. */
  private async positionOf(streamId: string, revision: bigint): Promise<Position> {
    const event = await this.eventAt(streamId, { fromRevision: revision, maxCount: 1 });
    if (event === undefined) throw new Error(`EventStoreDB acknowledged revision ${revision} of ${streamId}, which cannot be read`);
    return event.position;
  }

  /**
   * The one event a read of at most one event finds, if any. The read is taken to its end, one message
   * more, rather than let go of (`release`), which costs a cancellation and a drain.
   */
  private async eventAt(streamId: string, options: ReadStreamOptions & { readonly maxCount: 1 }): Promise<RecordedEvent | undefined> {
    let found: RecordedEvent | undefined;
    try {
      for await (const event of this.readStream(streamId, options)) found ??= event;
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return found;
  }

  /**
   * Runs one read of the client, with a timeout on each step and the client's errors mapped to the port's.
   * The read is cancelled on the server if the consumer stops early.
   */
  private async *read<T>(open: () => StreamingRead<T>, streamId?: string): AsyncGenerator<T, void, undefined> {
    this.assertOpen();
    const read = open();
    const iterator = read[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        let next: IteratorResult<T>;
        try {
          // Only a wait for the server needs a timer; most steps take an event the client already holds.
          next =
            read.readableLength > 0
              ? await iterator.next()
              : await withTimeout(
                  iterator.next(),
                  this.settings.readTimeoutMs,
                  () =>
                    new StoreUnavailableError(
                      `EventStoreDB sent nothing for ${this.settings.readTimeoutMs} ms during a read of ${streamId ?? '$all'}`,
                    ),
                );
        } catch (error) {
          throw this.readFailure(error, streamId);
        }
        if (next.done) {
          finished = true;
          // The client ends a read quietly when it is cancelled under it (by `dispose()`, in `close()`), as if
          // everything had been read: a read cut short must not pass for a complete one.
          if (this.closing !== undefined) throw this.closedError();
          return;
        }
        yield next.value;
      }
    } finally {
      if (!finished) release(read, iterator);
    }
  }

  private readFailure(error: unknown, streamId: string | undefined): unknown {
    if (error instanceof StoreUnavailableError) return error;
    const failure = classifyFailure(error);
    const what = streamId ?? '$all';
    switch (failure.kind) {
      case 'stream-not-found':
        return streamId === undefined ? error : new StreamNotFoundError(streamId);
      case 'unavailable':
        return new StoreUnavailableError(
          `EventStoreDB is unavailable (${describeError(error)}) during a read of ${what}`,
          error,
        );
      case 'conflict':
      case 'refused':
        return new Error(`EventStoreDB refused a read of ${what}: ${describeError(error)}`, { cause: error });
      default:
        return error;
    }
  }

  private subscriptionConnector(prefixes: readonly string[] | undefined): SubscriptionConnector {
    return {
      open: (after, onCheckpoint) => {
        const checkpointReached = (source: AllStreamSubscription, position: Position): void =>
          onCheckpoint(source, position);
        return this.client.subscribeToAll({
          fromPosition: after === 'start' ? START : after,
          // Filtered on the server, so that other streams' events never cross the network. Without a prefix
          // filter, only system events (whose types start with `$`) are excluded.
          filter:
            prefixes === undefined
              ? excludeSystemEvents({ checkpointReached })
              : streamNameFilter({ prefixes: [...prefixes], checkpointReached }),
          requiresLeader: this.settings.requireLeader,
        });
      },
      logHead: async () => {
        const page = this.read(() =>
          this.client.readAll({
            fromPosition: END,
            direction: BACKWARDS,
            maxCount: 1,
            requiresLeader: this.settings.requireLeader,
          }),
        );
        for await (const resolved of page) {
          if (resolved.event !== undefined) return resolved.event.position;
        }
        return undefined;
      },
      minRetryDelayMs: this.settings.minRetryDelayMs,
      maxRetryDelayMs: this.settings.maxRetryDelayMs,
      failure: (error) => this.readFailure(error, undefined),
      onClose: (subscription) => this.subscriptions.delete(subscription),
    };
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw this.closedError();
  }

  private closedError(): StoreUnavailableError {
    return new StoreUnavailableError('EventStoreDB event store is closed');
  }
}

function toClientExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return expected;
  }
}

function conflict(streamId: string, expected: ExpectedRevision, actual: bigint | 'no_stream'): AppendConflict {
  return { ok: false, streamId, error: new WrongExpectedRevisionError(streamId, expected, actual) };
}

function streamPrefixes(filter: SubscriptionFilter | undefined): readonly string[] | undefined {
  if (filter === undefined) return undefined;
  const prefixes = [...filter.streamPrefixes];
  if (prefixes.length === 0) throw new RangeError('A subscription filter needs at least one stream prefix');
  for (const prefix of prefixes) {
    if (typeof prefix !== 'string' || prefix.length === 0) {
      throw new RangeError('Subscription stream prefixes must be non-empty strings');
    }
    if (isSystemStream(prefix)) {
      throw new RangeError(`Stream prefix ${prefix} names EventStoreDB system streams, which $all hides`);
    }
  }
  return prefixes;
}

/** The last event an append stored: its revision and id. */
interface StoredEvent {
  readonly revision: bigint;
  readonly id: string;
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
