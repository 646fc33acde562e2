import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { cpusOfThread, formatCpuList, placeThreads, processCpus } from '#event-store';
import { LEDGER_CONFIG } from '../config/ledger-config.token.js';
import type { LedgerConfig } from '../config/ledger.config.js';

/**
 * With `LEDGER_DECIDING_CPUS`, puts the main thread on those CPUs and every other thread on the rest once
 * the app has started (its worker threads are running by then; one started later moves itself), and
 * gives them all back their CPUs when it stops. A placement that cannot be made stops the start.
 */
@Injectable()
export class ThreadPlacementJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ThreadPlacement');
  private undo: (() => void) | undefined;

  constructor(@Inject(LEDGER_CONFIG) private readonly config: LedgerConfig) {}

  onApplicationBootstrap(): void {
    const deciding = this.config.decidingCpus;
    if (!deciding) return;
    this.undo = placeThreads(deciding);
    this.logger.log(`deciding thread on CPU ${formatCpuList(cpusOfThread(process.pid))}; the other threads on ${formatCpuList(processCpus().filter((cpu) => !deciding.includes(cpu)))}`);
  }

  onApplicationShutdown(): void {
    this.undo?.();
    this.undo = undefined;
  }
}
