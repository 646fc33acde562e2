import type { AllStreamResolvedEvent, AllStreamSubscription } from '@eventstore/db-client';
import { comparePositions, type Position, type RecordedEvent, type Subscription } from '../event-store.port.js';
import { isRetryable } from './eventstoredb-errors.js';
import { isSystemStream, toRecordedEvent } from './eventstoredb-events.js';

/** What a subscription needs from the store; keeps the client's connection handling in one place. */
export interface SubscriptionConnector {
  /**
   * Opens a catch-up subscription of the client after `after` (exclusive), filtered on the server.
   * `onCheckpoint` receives the client subscription it belongs to, so that a late checkpoint of an
   * abandoned subscription can be told apart.
   */
  open(
    after: Position | 'start',
    onCheckpoint: (source: AllStreamSubscription, position: Position) => void,
  ): AllStreamSubscription;
  /** The position of the last record of the log, system events included; undefined if there is none. */
  logHead(): Promise<Position | undefined>;
  readonly minRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /** The error the consumer sees when the subscription fails for good (the port's errors, not the client's). */
  failure(error: unknown): unknown;
  onClose(subscription: EventStoreDbSubscription): void;
}

/** Called with positions up to which every matching event has been handed over; see `onCheckpoint`. */
export type CheckpointListener = (position: Position) => void | Promise<void>;

type Item = { readonly event: RecordedEvent } | { readonly checkpoint: Position };

/** One client subscription, from opening until it ends, fails or is abandoned. */
interface Attempt {
  readonly source: AllStreamSubscription;
  /** How many events `source` has emitted. */
  received: number;
  /**
   * Caught-up and checkpoint signals, each waiting until `received` reaches `after`: the client emits them
   * when it reads them from the wire, possibly before the events it read just before them, which may still
   * sit in its own buffer (`readableLength`).
   */
  readonly signals: { readonly after: number; readonly apply: () => void }[];
  paused: boolean;
  /** Whether the server answered at all: a subscription that worked for a while retries quickly. */
  progressed: boolean;
  end(error?: unknown): void;
}

/** Above this many undelivered events the client subscription is paused (gRPC flow control then holds the server). */
const HIGH_WATER = 1000;
const LOW_WATER = 250;
const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
const ignore = (): void => undefined;

/**
 * A catch-up subscription to `$all` over the client's, which survives the server going away.
 *
 * The client's subscription ends with an error when the connection drops, a node restarts or the leader
 * changes. This one then opens a new one after the position of the last event it received (exclusive),
 * waiting between attempts with exponential backoff, until it is closed. Since an event is received at
 * most once per position and positions only grow along `$all`, nothing is lost and nothing is delivered
 * twice: events received but not yet taken by the consumer stay in the queue across reconnections, and
 * an event at or before the last received position (a server repeating itself) is dropped.
 *
 * Only errors after which a retry can help reconnect; any other (access denied, a malformed position)
 * ends the subscription: the consumer gets the events already received, then the error.
 */
export class EventStoreDbSubscription implements Subscription, AsyncIterator<RecordedEvent> {
  readonly caughtUp: Promise<void>;

  /** Exclusive start of the next client subscription: the position of the last event received. */
  private cursor: Position | 'start' | 'end';
  private lastCheckpoint: Position | undefined;
  private readonly queue: Item[] = [];
  private queuedEvents = 0;
  /** Once the server said it is caught up: how many queued events the consumer must still take. */
  private eventsBeforeCaughtUp: number | undefined;
  private isCaughtUp = false;
  private closed = false;
  private failure: { readonly error: unknown } | undefined;
  private consumers: (() => void)[] = [];
  private attempt: Attempt | undefined;
  private wakeFromBackoff: (() => void) | undefined;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private resolveClosed!: () => void;
  private readonly whenClosed: Promise<void>;
  private readonly running: Promise<void>;

  constructor(
    private readonly connector: SubscriptionConnector,
    from: Position | 'start' | 'end',
    private readonly matches: (streamId: string) => boolean,
    private readonly onCheckpoint: CheckpointListener | undefined,
  ) {
    this.cursor = from;
    this.caughtUp = new Promise<void>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    // Whoever awaits `caughtUp` sees a failure, but a failure nobody awaits must not crash the process.
    this.caughtUp.catch(ignore);
    this.whenClosed = new Promise<void>((resolve) => (this.resolveClosed = resolve));
    this.running = this.run();
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.closed) return DONE;
      const item = this.queue.shift();
      if (item !== undefined) {
        if ('event' in item) {
          this.taken();
          return { value: item.event, done: false };
        }
        // Reported only now that the consumer asks for more: it is done with every event before the
        // checkpoint, so persisting the checkpoint cannot skip an event it has not processed.
        try {
          await this.onCheckpoint?.(item.checkpoint);
        } catch (error) {
          await this.close();
          throw error;
        }
        continue;
      }
      if (this.failure !== undefined) {
        const { error } = this.failure;
        await this.close();
        throw error;
      }
      await new Promise<void>((resolve) => this.consumers.push(resolve));
    }
  }

  async return(): Promise<IteratorResult<RecordedEvent>> {
    await this.close();
    return DONE;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.queue.length = 0;
      this.queuedEvents = 0;
      this.attempt?.end();
      this.resolveClosed();
      this.wakeFromBackoff?.();
      this.signalConsumers();
      this.connector.onClose(this);
    }
    await this.running;
  }

  private async run(): Promise<void> {
    let delay = this.connector.minRetryDelayMs;
    while (!this.closed) {
      let error: unknown;
      let progressed = false;
      try {
        // A position, not "end", so that a reconnection before the first event resumes from the same place
        // instead of skipping whatever was appended while the connection was down.
        if (this.cursor === 'end') {
          const head = await Promise.race([this.connector.logHead(), this.whenClosed]);
          if (this.closed) return;
          this.cursor = head ?? 'start';
        }
        ({ error, progressed } = await this.follow(this.cursor));
      } catch (failure) {
        error = failure;
      }
      if (this.closed) return;
      // A subscription the server ended without an error was dropped all the same (a node shutting down).
      if (error !== undefined && !isRetryable(error)) {
        this.fail(error);
        return;
      }
      if (progressed) delay = this.connector.minRetryDelayMs;
      // Jitter, so that the subscriptions of many instances do not all come back at the same instant.
      await this.sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, this.connector.maxRetryDelayMs);
    }
  }

  /** Follows one client subscription until it ends; resolves with the error it ended with, if any. */
  private follow(after: Position | 'start'): Promise<{ error?: unknown; progressed: boolean }> {
    return new Promise((resolve) => {
      let source: AllStreamSubscription;
      try {
        source = this.connector.open(after, (from, position) => this.checkpointed(from, position));
      } catch (error) {
        resolve({ error, progressed: false });
        return;
      }

      const onData = (resolved: AllStreamResolvedEvent): void => {
        if (this.attempt !== attempt) return;
        attempt.received += 1;
        attempt.progressed = true;
        try {
          this.receive(resolved);
        } catch (error) {
          attempt.end(error);
          return;
        }
        this.release(attempt);
        if (!attempt.paused && this.queuedEvents >= HIGH_WATER) {
          attempt.paused = true;
          source.pause();
        }
      };
      const onCaughtUp = (): void => {
        attempt.progressed = true;
        this.signal(attempt, () => this.reachedHead());
      };
      const onConfirmation = (): void => {
        attempt.progressed = true;
      };
      const onError = (error: unknown): void => attempt.end(error);
      const onEnd = (): void => attempt.end();

      const attempt: Attempt = {
        source,
        received: 0,
        signals: [],
        paused: false,
        progressed: false,
        end: (error?: unknown) => {
          if (this.attempt !== attempt) return;
          this.attempt = undefined;
          source
            .off('data', onData)
            .off('caughtUp', onCaughtUp)
            .off('confirmation', onConfirmation)
            .off('error', onError)
            .off('end', onEnd)
            .off('close', onEnd);
          // An error the abandoned subscription emits later must not become an unhandled 'error' event.
          source.on('error', ignore);
          source.unsubscribe().catch(ignore);
          source.destroy();
          resolve({ error, progressed: attempt.progressed });
        },
      };
      this.attempt = attempt;
      source
        .on('data', onData)
        .on('caughtUp', onCaughtUp)
        .on('confirmation', onConfirmation)
        .on('error', onError)
        .on('end', onEnd)
        .on('close', onEnd);
    });
  }

  private receive(resolved: AllStreamResolvedEvent): void {
    const raw = resolved.event;
    // Links are not resolved by this adapter, so every record carries its event.
    if (raw === undefined) return;
    const { position } = raw;
    if (typeof this.cursor === 'object' && comparePositions(position, this.cursor) <= 0) return;
    this.cursor = { commit: position.commit, prepare: position.prepare };
    // The server filters already; this also holds if it did not (and hides `$` streams whatever the filter).
    if (isSystemStream(raw.streamId) || !this.matches(raw.streamId)) return;
    this.queue.push({ event: toRecordedEvent(raw) });
    this.queuedEvents += 1;
    this.signalConsumers();
  }

  /**
   * The server sends checkpoints (filtered subscriptions only) at positions up to which it has considered
   * every event, including those filtered out: a consumer that persists them does not rescan long runs of
   * other streams' events after a restart. They are not used to resume here: resuming from the last
   * event is always safe, and costs at most such a rescan.
   */
  private checkpointed(from: AllStreamSubscription, position: Position): void {
    const attempt = this.attempt;
    if (attempt === undefined || attempt.source !== from || this.onCheckpoint === undefined) return;
    this.signal(attempt, () => {
      if (typeof this.cursor === 'object' && comparePositions(position, this.cursor) <= 0) return;
      if (this.lastCheckpoint !== undefined && comparePositions(position, this.lastCheckpoint) <= 0) return;
      this.lastCheckpoint = { commit: position.commit, prepare: position.prepare };
      this.queue.push({ checkpoint: this.lastCheckpoint });
      this.signalConsumers();
    });
  }

  private signal(attempt: Attempt, apply: () => void): void {
    if (this.attempt !== attempt) return;
    const after = attempt.received + attempt.source.readableLength;
    if (attempt.signals.length === 0 && after <= attempt.received) apply();
    else attempt.signals.push({ after, apply });
  }

  private release(attempt: Attempt): void {
    while (attempt.signals.length > 0 && attempt.signals[0]!.after <= attempt.received) {
      attempt.signals.shift()!.apply();
    }
  }

  /** Every event that existed when the subscription was opened is now queued. */
  private reachedHead(): void {
    if (this.isCaughtUp || this.eventsBeforeCaughtUp !== undefined) return;
    this.eventsBeforeCaughtUp = this.queuedEvents;
    this.settleCaughtUp();
  }

  private settleCaughtUp(): void {
    if (this.isCaughtUp || this.eventsBeforeCaughtUp !== 0) return;
    this.isCaughtUp = true;
    this.resolveCaughtUp();
  }

  private taken(): void {
    this.queuedEvents -= 1;
    if (this.eventsBeforeCaughtUp !== undefined && this.eventsBeforeCaughtUp > 0) {
      this.eventsBeforeCaughtUp -= 1;
      this.settleCaughtUp();
    }
    const attempt = this.attempt;
    if (attempt?.paused && this.queuedEvents <= LOW_WATER) {
      attempt.paused = false;
      attempt.source.resume();
    }
  }

  private fail(cause: unknown): void {
    const error = this.connector.failure(cause);
    this.failure = { error };
    this.rejectCaughtUp(error);
    this.signalConsumers();
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakeFromBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakeFromBackoff = wake;
    });
  }

  private signalConsumers(): void {
    const consumers = this.consumers;
    this.consumers = [];
    for (const resume of consumers) resume();
  }
}
