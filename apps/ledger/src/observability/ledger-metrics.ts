import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isCreditAccountEventType, type CreditAccountEvent } from '#domain';

export const LEDGER_METRICS = Symbol('LEDGER_METRICS');

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type CommandOutcome = 'recorded' | 'replayed' | 'refused' | 'unavailable' | 'failed';

/**
 * The ledger's Prometheus metrics, in a registry of its own (two apps in one process, as in tests, do
 * not share counters). Counters count what this instance appended; sum them over instances.
 */
export class LedgerMetrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'ledger_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly commandDuration = new Histogram({
    name: 'ledger_command_duration_seconds',
    help: 'Time from a command reaching the write path to its durable answer (queue, decision, append, fsync)',
    labelNames: ['command', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly appendDuration = new Histogram({
    name: 'ledger_store_append_duration_seconds',
    help: 'Event-store append latency (one group commit), by outcome',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly appendedEvents = new Counter({
    name: 'ledger_events_appended_total',
    help: 'Events appended by this instance, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly charges = new Counter({
    name: 'ledger_charges_total',
    help: 'Charges recorded, by credit type and source (job_search, company_search, technographics, webhook, reveal, export)',
    labelNames: ['credit_type', 'source'] as const,
    registers: [this.registry],
  });
  readonly creditsCharged = new Counter({
    name: 'ledger_credits_charged_total',
    help: 'Credits consumed by charges, by credit type and source',
    labelNames: ['credit_type', 'source'] as const,
    registers: [this.registry],
  });
  readonly creditsAdded = new Counter({
    name: 'ledger_credits_added_total',
    help: 'Credits added, by credit type and source (purchase, subscription, auto_recharge, trial, grant, adjustment)',
    labelNames: ['credit_type', 'source'] as const,
    registers: [this.registry],
  });
  readonly creditsRemoved = new Counter({
    name: 'ledger_credits_removed_total',
    help: 'Credits taken out other than by charges, by credit type and reason (expired, refunded, adjustment)',
    labelNames: ['credit_type', 'reason'] as const,
    registers: [this.registry],
  });
  readonly autoRecharges = new Counter({
    name: 'ledger_auto_recharge_requests_total',
    help: 'Auto-recharge requests recorded, by credit type and trigger',
    labelNames: ['credit_type', 'trigger'] as const,
    registers: [this.registry],
  });
  readonly autoRechargeFailures = new Counter({
    name: 'ledger_auto_recharge_failures_total',
    help: 'Auto-recharge payments reported failed, by credit type',
    labelNames: ['credit_type'] as const,
    registers: [this.registry],
  });
  readonly webhooksNotTriggered = new Counter({
    name: 'ledger_webhooks_not_triggered_total',
    help: 'Webhook dispatches refused for lack of credits',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'ledger_rate_limited_requests_total',
    help: 'Requests refused with 429, by token name',
    labelNames: ['token'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ledger_' });
  }

  /** A gauge whose value is read when Prometheus scrapes. */
  gauge(name: string, help: string, read: () => Promise<number> | number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  /** Counts the business content of events this instance has durably appended. */
  countAppended(events: readonly { readonly type: string; readonly data: unknown }[]): void {
    for (const { type, data } of events) {
      this.appendedEvents.inc({ type });
      if (isCreditAccountEventType(type)) this.countEvent({ type, data } as CreditAccountEvent);
    }
  }

  private countEvent(event: CreditAccountEvent): void {
    switch (event.type) {
      case 'RecordsReturned':
        return this.charge('api', event.data.endpoint, event.data.credits);
      case 'WebhookDispatched':
        return this.charge('api', 'webhook', event.data.credits);
      case 'CompanyRevealed':
        return this.charge('company', event.data.action, event.data.credits);
      case 'WebhookNotTriggered':
        return this.webhooksNotTriggered.inc();
      case 'CreditsPurchased':
        return this.creditsAdded.inc({ credit_type: event.data.creditType, source: event.data.source }, event.data.credits);
      case 'CreditsAdjusted':
        if (event.data.credits >= 0) return this.creditsAdded.inc({ credit_type: event.data.creditType, source: 'adjustment' }, event.data.credits);
        return this.creditsRemoved.inc({ credit_type: event.data.creditType, reason: 'adjustment' }, -event.data.credits);
      case 'CreditsExpired':
        return this.creditsRemoved.inc({ credit_type: event.data.creditType, reason: 'expired' }, event.data.credits);
      case 'PurchaseRefunded':
        return this.creditsRemoved.inc({ credit_type: event.data.creditType, reason: 'refunded' }, event.data.credits);
      case 'AutoRechargeRequested':
        return this.autoRecharges.inc({ credit_type: event.data.creditType, trigger: event.data.trigger });
      case 'AutoRechargeFailed':
        return this.autoRechargeFailures.inc({ credit_type: event.data.creditType });
      case 'RevealServedFree':
      case 'AutoRechargeRuleSet':
      case 'AutoRechargeRuleRemoved':
      case 'BalanceAlertRulesSet':
      case 'BalanceAlertRaised':
        return;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }

  private charge(creditType: string, source: string, credits: number): void {
    this.charges.inc({ credit_type: creditType, source });
    if (credits > 0) this.creditsCharged.inc({ credit_type: creditType, source }, credits);
  }
}
