import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent, Subscription } from '../event-store.port.js';
import { toRecordedEvent, type EventRow } from './sqlite-schema.js';

export interface SubscriptionSource {
  /** Rows with a position greater than `after`, in position order; at most `limit`. */
  readAfter(after: bigint, limit: number): readonly EventRow[];
  readonly pageSize: number;
  readonly pollIntervalMs: number;
  onClose(subscription: SqliteSubscription): void;
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/**
 * A catch-up subscription over `events`, by position.
 *
 * History and live events come from the same query ("rows after the cursor"), so there is no switch-over
 * to get wrong: positions are assigned in commit order by a single writer at a time, so once a page has
 * been read up to position p, every event committed later has a position above p. Nothing can be skipped
 * and nothing is read twice.
 *
 * A pump reads pages ahead into a bounded buffer; the consumer takes from the buffer. The pump sleeps at
 * the head until the store reports an append through this process, or the poll interval passes (appends
 * by another process on the same file are only visible that way).
 */
export class SqliteSubscription implements Subscription, AsyncIterator<RecordedEvent> {
  readonly caughtUp: Promise<void>;

  private cursor: bigint;
  private readonly buffer: RecordedEvent[] = [];
  private closed = false;
  private failure: { readonly error: unknown } | undefined;
  private isCaughtUp = false;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private consumers: (() => void)[] = [];
  private wakePump: (() => void) | undefined;
  private pumpWaitsFor: 'room' | 'appends' | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly pumping: Promise<void>;

  /**
   * @param after exclusive start position
   * @param head the last position when the subscription was opened: `caughtUp` resolves once every
   *   matching event up to it has been handed to the consumer
   */
  constructor(
    private readonly source: SubscriptionSource,
    after: bigint,
    private readonly head: bigint,
    private readonly matches: (streamId: string) => boolean,
  ) {
    this.cursor = after;
    this.caughtUp = new Promise<void>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    // Whoever awaits `caughtUp` sees a failure, but a failure nobody awaits must not crash the process.
    this.caughtUp.catch(() => undefined);
    this.pumping = this.pump();
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.closed) return DONE;
      const event = this.buffer.shift();
      if (event !== undefined) {
        if (this.pumpWaitsFor === 'room' && this.buffer.length < this.source.pageSize) this.wake();
        this.checkCaughtUp();
        return { value: event, done: false };
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

  /** Called by the store after every commit made through it. */
  notifyAppended(): void {
    if (this.pumpWaitsFor === 'appends') this.wake();
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.buffer.length = 0;
      this.wake();
      this.signalConsumers();
      this.source.onClose(this);
    }
    await this.pumping;
  }

  private async pump(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.buffer.length >= this.source.pageSize) {
          await this.sleep('room');
          continue;
        }
        const scanned = this.readPage();
        if (this.buffer.length > 0) this.signalConsumers();
        this.checkCaughtUp();
        // Between two reads and the sleep there must be no await: an append committed in between would
        // notify nobody. A full page means there is probably more: read on, but let other work run.
        if (scanned === this.source.pageSize) await yieldToEventLoop();
        else await this.sleep('appends');
      }
    } catch (error) {
      this.failure = { error };
      this.rejectCaughtUp(error);
      this.signalConsumers();
    }
  }

  private readPage(): number {
    const rows = this.source.readAfter(this.cursor, this.source.pageSize);
    for (const row of rows) {
      if (this.matches(row[1])) this.buffer.push(toRecordedEvent(row));
    }
    if (rows.length > 0) this.cursor = rows[rows.length - 1]![0];
    return rows.length;
  }

  private checkCaughtUp(): void {
    if (this.isCaughtUp || this.cursor < this.head) return;
    const next = this.buffer[0];
    if (next === undefined || next.position.commit > this.head) {
      this.isCaughtUp = true;
      this.resolveCaughtUp();
    }
  }

  private sleep(until: 'room' | 'appends'): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.pumpWaitsFor = until;
      this.wakePump = resolve;
      if (until === 'appends') this.pollTimer = setTimeout(() => this.wake(), this.source.pollIntervalMs);
    });
  }

  private wake(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.pumpWaitsFor = undefined;
    const wakePump = this.wakePump;
    this.wakePump = undefined;
    wakePump?.();
  }

  private signalConsumers(): void {
    const consumers = this.consumers;
    this.consumers = [];
    for (const resume of consumers) resume();
  }
}
