import { Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { EVENT_STORE, SqliteEventStore, type EventStore } from '#event-store';
import {
  ACCOUNT_SNAPSHOTS,
  CLOCK,
  CreditAccountWriter,
  SqliteAccountSnapshots,
  PROJECTION_ENGINE,
  READ_MODELS,
  systemClock,
  type Clock,
  type ProjectionFollower,
  type SqliteReadModelStore,
} from '#ledger';
import { API_TOKEN_REGISTRY, ApiTokenRegistry } from './auth/api-token.registry.js';
import { AUDIT_CONTROLLERS, AUDIT_PROVIDERS } from './audit/index.js';
import { AuthGuard } from './auth/auth.guard.js';
import { RATE_LIMITER, RateLimiter } from './auth/rate-limiter.js';
import { CommandSubmitter } from './credit-accounts/shared/ledger-command.js';
import { LEDGER_METRICS, type LedgerMetrics } from './observability/ledger-metrics.js';
import { MeteredEventStore } from './observability/metered-event-store.js';
import { Draining, OperationalGauges, OperationsController } from './observability/operations.js';
import { BalanceAlertsController, SetBalanceAlertsHandler } from './balance-alerts/balance-alerts.controller.js';
import { AutoRechargeController } from './auto-recharge/auto-recharge.controller.js';
import {
  FailAutoRechargeHandler,
  RemoveAutoRechargeRuleHandler,
  SetAutoRechargeRuleHandler,
} from './auto-recharge/auto-recharge.commands.js';
import type { ApiTokenConfig } from './auth/scopes.js';
import type { LedgerConfig } from './config/ledger.config.js';
import { AdjustCreditsHandler } from './credit-accounts/adjustments/adjust-credits.command.js';
import { AdjustmentsController } from './credit-accounts/adjustments/adjustments.controller.js';
import { BalanceController } from './credit-accounts/balance/balance.controller.js';
import { RefundPurchaseHandler } from './credit-accounts/refunds/refund-purchase.command.js';
import { RefundsController } from './credit-accounts/refunds/refunds.controller.js';
import { GetBalanceHandler } from './credit-accounts/balance/balance.query.js';
import { PurchaseCreditsHandler } from './credit-accounts/purchases/purchase-credits.command.js';
import { PurchasesController } from './credit-accounts/purchases/purchases.controller.js';
import { ChargeRecordsHandler } from './credit-accounts/record-charges/charge-records.command.js';
import { RecordChargesBatchController } from './credit-accounts/record-charges/charge-records-batch.js';
import { RecordChargesController } from './credit-accounts/record-charges/record-charges.controller.js';
import { RevealCompaniesHandler } from './credit-accounts/reveals/reveal-companies.command.js';
import { GetOpenWindowsHandler } from './credit-accounts/reveals/open-windows.query.js';
import { GetRevealStatusHandler } from './credit-accounts/reveals/reveal-status.query.js';
import { RevealsController } from './credit-accounts/reveals/reveals.controller.js';
import { DispatchWebhookHandler } from './credit-accounts/webhook-dispatches/dispatch-webhook.command.js';
import { WebhookDispatchesController } from './credit-accounts/webhook-dispatches/webhook-dispatches.controller.js';
import { LEDGER_CONFIG } from './config/ledger-config.token.js';
import { HealthController } from './health/health.controller.js';
import { ExpirySweepJob } from './lifecycle/expiry-sweep.job.js';
import { ThreadPlacementJob } from './lifecycle/thread-placement.job.js';
import { readModelProviders } from './read-models/read-models.providers.js';
import { loadOrCreateLinkSecret, USAGE_PAGE_LINKS, UsagePageLinks } from './usage/usage-page-links.js';
import { UsageController } from './usage/usage.controller.js';
import { GetUsageHandler } from './usage/usage.query.js';
import { ProblemDetailsFilter } from './problems/problem-details.filter.js';
import { ledgerValidationPipe } from './problems/validation.pipe.js';

export interface LedgerModuleOptions {
  readonly config: LedgerConfig;
  readonly apiTokens: readonly ApiTokenConfig[];
  readonly clock?: Clock;
  readonly store?: EventStore;
  readonly metrics: LedgerMetrics;
}

/**
 * Says "not ready" first; then, once the HTTP server has let the requests in flight finish, closes the
 * write path (so every command already accepted is stored), the projections and the stores.
 */
@Injectable()
class ShutdownSequence implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(Draining) private readonly draining: Draining,
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ACCOUNT_SNAPSHOTS) private readonly snapshots: SqliteAccountSnapshots,
  ) {}

  beforeApplicationShutdown(): void {
    this.draining.active = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.writer.close();
    await this.engine.stop();
    await this.store.close();
    this.readModels.close();
    await this.snapshots.close();
  }
}

@Module({})
export class LedgerModule {
  static register(options: LedgerModuleOptions): DynamicModule {
    return {
      module: LedgerModule,
      imports: [CqrsModule.forRoot()],
      controllers: [
        HealthController,
        OperationsController,
        PurchasesController,
        RevealsController,
        RecordChargesController,
        RecordChargesBatchController,
        WebhookDispatchesController,
        BalanceController,
        UsageController,
        RefundsController,
        AdjustmentsController,
        AutoRechargeController,
        BalanceAlertsController,
        ...AUDIT_CONTROLLERS,
      ],
      providers: [
        {
          provide: EVENT_STORE,
          useFactory: async (): Promise<EventStore> => {
            const store = options.config.store;
            const inner =
              options.store ??
              (store.kind === 'sqlite'
                ? // Another process on the same file (a second instance, the CLI) is noticed within 50 ms.
                  SqliteEventStore.open(store.file, { pollIntervalMs: 50, appendThread: options.config.workerThreads })
                : (await import('#event-store/eventstoredb')).EventStoreDbEventStore.connect(store.connectionString));
            return new MeteredEventStore(inner, options.metrics);
          },
        },
        { provide: CLOCK, useValue: options.clock ?? systemClock },
        { provide: LEDGER_CONFIG, useValue: options.config },
        ExpirySweepJob,
        ThreadPlacementJob,
        // Beside the read models, whichever store holds the events: snapshots are derived data too.
        { provide: ACCOUNT_SNAPSHOTS, useFactory: () => SqliteAccountSnapshots.open(options.config.snapshotsFile, { writeThread: options.config.workerThreads }) },
        {
          provide: CreditAccountWriter,
          useFactory: (store: EventStore, clock: Clock, snapshots: SqliteAccountSnapshots) =>
            new CreditAccountWriter(store, clock, {
              snapshots,
              onCommandSettled: (command, outcome, seconds) => options.metrics.commandDuration.observe({ command, outcome }, seconds),
            }),
          inject: [EVENT_STORE, CLOCK, ACCOUNT_SNAPSHOTS],
        },
        { provide: API_TOKEN_REGISTRY, useValue: new ApiTokenRegistry(options.apiTokens) },
        { provide: LEDGER_METRICS, useValue: options.metrics },
        {
          provide: RATE_LIMITER,
          useFactory: (clock: Clock) => {
            const { requests, windowSeconds } = options.config.rateLimit;
            const own = new Map(options.apiTokens.map((t) => [t.name, t.rateLimit ?? requests]));
            return new RateLimiter(clock, windowSeconds, (name) => own.get(name) ?? requests);
          },
          inject: [CLOCK],
        },
        Draining,
        OperationalGauges,
        CommandSubmitter,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        { provide: APP_PIPE, useFactory: ledgerValidationPipe },
        ...readModelProviders(options.config),
        ShutdownSequence,
        PurchaseCreditsHandler,
        RevealCompaniesHandler,
        ChargeRecordsHandler,
        DispatchWebhookHandler,
        RefundPurchaseHandler,
        AdjustCreditsHandler,
        SetAutoRechargeRuleHandler,
        RemoveAutoRechargeRuleHandler,
        FailAutoRechargeHandler,
        SetBalanceAlertsHandler,
        GetBalanceHandler,
        GetRevealStatusHandler,
        GetOpenWindowsHandler,
        GetUsageHandler,
        ...AUDIT_PROVIDERS,
        {
          provide: USAGE_PAGE_LINKS,
          useFactory: (clock: Clock) =>
            new UsagePageLinks(loadOrCreateLinkSecret(options.config.dataDir, options.config.linkSecret), clock),
          inject: [CLOCK],
        },
      ],
    };
  }
}
