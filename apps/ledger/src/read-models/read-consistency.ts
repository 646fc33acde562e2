import { Inject, Injectable } from '@nestjs/common';
import { creditAccountStream } from '#domain';
import { EVENT_STORE, StreamNotFoundError, type EventStore } from '#event-store';
import { CreditAccountWriter, PROJECTION_ENGINE, type ProjectionFollower } from '#ledger';

/**
 * Read-your-writes for queries served from read models: before reading an account, wait (briefly)
 * until the projections have applied the last event this instance wrote for it. A caller that was
 * just told "charged" never reads a balance from before the charge.
 */
@Injectable()
export class ReadConsistency {
  constructor(
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /** For views across accounts (feeds): everything this instance has written. */
  async catchUpAll(): Promise<void> {
    const position = this.writer.highestPosition;
    if (position !== undefined) await this.engine.waitFor(position);
  }

  /**
   * Up to the account's last event in the store, whichever instance wrote it: behind a load balancer, a
   * caller charged through one instance reads its balance through another. One indexed read of the
   * stream's head (a round trip on EventStoreDB), then a short wait for the projections.
   */
  async catchUp(accountId: string): Promise<void> {
    const local = this.writer.lastPosition(accountId);
    const head = await this.streamHead(accountId);
    const target = local === undefined ? head : head === undefined || local > head ? local : head;
    if (target !== undefined && target > this.engine.position()) await this.engine.waitFor(target);
  }

  private async streamHead(accountId: string): Promise<bigint | undefined> {
    try {
      for await (const last of this.store.readStream(creditAccountStream(accountId), { direction: 'backwards', fromRevision: 'end', maxCount: 1 })) {
        return last.position.commit;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return undefined;
  }
}
