import { Controller, Get, Header, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { EVENT_STORE, positionOf, withTimeout, type EventStore } from '#event-store';
import { CLOCK, CreditAccountWriter, PROJECTION_ENGINE, type Clock, type ProjectionFollower } from '#ledger';
import { PublicRoute } from '../auth/auth.guard.js';
import { Problem } from '../problems/problem.js';
import { LEDGER_METRICS, type LedgerMetrics } from './ledger-metrics.js';

/** Set when the app starts to stop: load balancers see it on `/ready` and send no new traffic. */
@Injectable()
export class Draining {
  active = false;
}

/**
 * How far the read models are behind the store: the age of the oldest event not yet projected
 * (0 when caught up). Positions are only compared, never subtracted: EventStoreDB's are log offsets.
 */
async function projectionLagSeconds(store: EventStore, engine: ProjectionFollower, clock: Clock): Promise<number> {
  const projected = engine.position();
  const from = projected < 0n ? 'start' : positionOf(projected);
  for await (const event of store.readAll({ fromPosition: from, maxCount: 2 })) {
    if (event.position.commit > projected) return Math.max(0, (clock.now() - event.created.getTime()) / 1000);
  }
  return 0;
}

@Controller()
export class OperationsController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LEDGER_METRICS) private readonly metrics: LedgerMetrics,
    @Inject(Draining) private readonly draining: Draining,
  ) {}

  /**
   * Ready to take traffic: not shutting down, the store answers, and the projections are following it.
   * Needs no token so orchestrators can probe it; says why when it is not ready.
   */
  @Get('ready')
  @PublicRoute()
  async ready() {
    const reasons: string[] = [];
    if (this.draining.active) reasons.push('shutting down');
    try {
      await withTimeout(this.store.headPosition(), 1000, () => new Error('the event store did not answer within 1000 ms'));
    } catch (error) {
      reasons.push(`event store: ${error instanceof Error ? error.message : String(error)}`);
    }
    const projections = this.engine.health;
    if (!projections.running) reasons.push('projections are not running');
    else if (projections.lastError) reasons.push(`projections paused: ${projections.lastError}`);
    if (reasons.length > 0) {
      throw new Problem(503, 'NOT_READY', 'Not ready', reasons.join('; '), { reasons }, { 'retry-after': '1' });
    }
    const lagSeconds = await projectionLagSeconds(this.store, this.engine, this.clock);
    return { status: 'ready', projections: { lagSeconds } };
  }

  /** Prometheus exposition. Public like /health: it holds counts and latencies, no account or token. */
  @Get('metrics')
  @PublicRoute()
  @Header('cache-control', 'no-store')
  async metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}

/** Gauges read at scrape time from the parts that know them. */
@Injectable()
export class OperationalGauges implements OnApplicationBootstrap {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower,
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LEDGER_METRICS) private readonly metrics: LedgerMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.metrics.gauge('ledger_projection_lag_seconds', 'Age of the oldest event the read models have not applied yet (0 when caught up)', () =>
      projectionLagSeconds(this.store, this.engine, this.clock).catch(() => -1),
    );
    this.metrics.gauge('ledger_projections_paused', '1 while the projection engine is retrying after an error', () => (this.engine.health.lastError ? 1 : 0));
    this.metrics.gauge('ledger_writer_cached_accounts', 'Account states held in the write path’s LRU', () => this.writer.cachedAccounts);
  }
}
