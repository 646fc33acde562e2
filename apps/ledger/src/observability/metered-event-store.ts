import type {
  AppendOutcome,
  AppendRequest,
  AppendSuccess,
  EventStore,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeToAllOptions,
  Subscription,
} from '#event-store';
import type { LedgerMetrics } from './ledger-metrics.js';

/**
 * The event store as the app sees it, timing every append and counting what was durably written:
 * the metrics see exactly the events that made it into the store, whichever adapter is underneath.
 */
export class MeteredEventStore implements EventStore {
  readonly readAllText?: EventStore['readAllText'];

  constructor(
    /** The adapter underneath, for what only it offers (the embedded store's append signal). */
    readonly inner: EventStore,
    private readonly metrics: LedgerMetrics,
  ) {
    // The bulk read for replays is offered only where the store underneath offers it.
    if (inner.readAllText) this.readAllText = (after, limit) => inner.readAllText!(after, limit);
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], options: { readonly expectedRevision: ExpectedRevision }): Promise<AppendSuccess> {
    const done = this.metrics.appendDuration.startTimer();
    try {
      const result = await this.inner.appendToStream(streamId, events, options);
      done({ outcome: 'ok' });
      this.metrics.countAppended(events);
      return result;
    } catch (error) {
      done({ outcome: (error as { code?: unknown }).code === 'WRONG_EXPECTED_REVISION' ? 'conflict' : 'failed' });
      throw error;
    }
  }

  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const done = this.metrics.appendDuration.startTimer();
    try {
      const outcomes = await this.inner.appendMany(requests);
      done({ outcome: 'ok' });
      outcomes.forEach((outcome, i) => {
        if (outcome.ok) this.metrics.countAppended(requests[i]!.events);
      });
      return outcomes;
    } catch (error) {
      done({ outcome: 'failed' });
      throw error;
    }
  }

  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent> {
    return this.inner.readStream(streamId, options);
  }

  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    return this.inner.readAll(options);
  }

  subscribeToAll(options?: SubscribeToAllOptions): Subscription {
    return this.inner.subscribeToAll(options);
  }

  headPosition(): Promise<Position | undefined> {
    return this.inner.headPosition();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
