import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  accountsWithExpiredLots,
  CLOCK,
  CreditAccountWriter,
  PROJECTION_ENGINE,
  READ_MODELS,
  sweepExpiries,
  type Clock,
  type ProjectionFollower,
  type SqliteReadModelStore,
} from '#ledger';
import { LEDGER_CONFIG } from '../config/ledger-config.token.js';
import type { LedgerConfig } from '../config/ledger.config.js';

/**
 * Records expired remainders in the background (every `LEDGER_EXPIRY_SWEEP_INTERVAL_MS`, 0 to turn it
 * off), so finance sees breakage even on accounts nobody uses. Runs never overlap; several instances may
 * sweep at once — the write path records each expiry once.
 */
@Injectable()
export class ExpirySweepJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ExpirySweep');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @Inject(LEDGER_CONFIG) private readonly config: LedgerConfig,
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.expirySweepIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => this.runOnce(), every);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  runOnce(): Promise<void> {
    this.running ??= this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(): Promise<void> {
    try {
      // Candidates come from the balances read model: let it catch up with what this instance wrote.
      const written = this.writer.highestPosition;
      if (written !== undefined) await this.engine.waitFor(written);
      const due = await accountsWithExpiredLots(this.readModels, this.clock.now());
      const report = await sweepExpiries(this.writer, due, 'expiry-sweep');
      if (report.lots > 0 || report.failures.length > 0) {
        this.logger.log({ msg: 'expiry sweep', ...report, failures: report.failures.slice(0, 20) });
      }
    } catch (error) {
      this.logger.warn({ msg: 'expiry sweep failed', error: error instanceof Error ? error.message : String(error) });
    }
  }
}
