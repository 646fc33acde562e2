import { Inject, Injectable } from '@nestjs/common';
import { CreditAccountWriter, PROJECTION_ENGINE, type ProjectionEngine } from '#ledger';

/**
 * Read-your-writes for queries served from read models: before reading an account, wait (briefly)
 * until the projections have applied the last event this instance wrote for it. A caller that was
 * just told "charged" never reads a balance from before the charge.
 */
@Injectable()
export class ReadConsistency {
  constructor(
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionEngine,
  ) {}

  /** For views across accounts (feeds): everything this instance has written. */
  async catchUpAll(): Promise<void> {
    const position = this.writer.highestPosition;
    if (position !== undefined) await this.engine.waitFor(position);
  }

  async catchUp(accountId: string): Promise<void> {
    const position = this.writer.lastPosition(accountId);
    if (position !== undefined) await this.engine.waitFor(position);
  }
}
