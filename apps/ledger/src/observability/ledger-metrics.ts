import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { isCreditAccountEventType, type CreditAccountEvent } from '#domain';
import { TallyCounter, TallyHistogram } from './tallies.js';

export const LEDGER_METRICS = Symbol('LEDGER_METRICS');

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The ledger's Prometheus metrics, in a registry of its own (two apps in one process, as in tests, do
 * not share counters). Counters count what this instance appended; sum them over instances.
 */
export class LedgerMetrics {
  readonly registry = new Registry();

  readonly httpDuration = this.histogram(
    'ledger_http_request_duration_seconds',
    'HTTP request latency by route and status',
    ['method', 'route', 'status'],
  );
  readonly commandDuration = this.histogram(
    'ledger_command_duration_seconds',
    'Time from a command reaching the write path to its durable answer (queue, decision, append, fsync)',
    ['command', 'outcome'],
  );
  readonly appendDuration = this.histogram(
    'ledger_store_append_duration_seconds',
    'Event-store append latency (one group commit), by outcome',
    ['outcome'],
  );
  readonly appendedEvents = this.counter('ledger_events_appended_total', 'Events appended by this instance, by type', ['type']);
  readonly charges = this.counter(
    'ledger_charges_total',
    'Charges recorded, by credit type and source (job_search, company_search, technographics, webhook, reveal, export)',
    ['credit_type', 'source'],
  );
  readonly creditsCharged = this.counter(
    'ledger_credits_charged_total',
    'Credits consumed by charges, by credit type and source',
    ['credit_type', 'source'],
  );
  readonly creditsAdded = this.counter(
    'ledger_credits_added_total',
    'Credits added, by credit type and source (purchase, subscription, auto_recharge, trial, grant, adjustment)',
    ['credit_type', 'source'],
  );
  readonly creditsRemoved = this.counter(
    'ledger_credits_removed_total',
    'Credits taken out other than by charges, by credit type and reason (expired, refunded, adjustment)',
    ['credit_type', 'reason'],
  );
  readonly autoRecharges = this.counter(
    'ledger_auto_recharge_requests_total',
    'Auto-recharge requests recorded, by credit type and trigger',
    ['credit_type', 'trigger'],
  );
  readonly autoRechargeFailures = this.counter(
    'ledger_auto_recharge_failures_total',
    'Auto-recharge payments reported failed, by credit type',
    ['credit_type'],
  );
  readonly webhooksNotTriggered = this.counter('ledger_webhooks_not_triggered_total', 'Webhook dispatches refused for lack of credits');
  readonly rateLimited = this.counter('ledger_rate_limited_requests_total', 'Requests refused with 429, by token name', ['token']);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ledger_' });
  }

  // Updated for every command and every event appended, so kept in plain numbers (see `tallies.ts`).
  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[]): TallyHistogram<L> {
    return new TallyHistogram({ registry: this.registry, name, help, labelNames, buckets: LATENCY_BUCKETS });
  }

  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): TallyCounter<L> {
    return new TallyCounter({ registry: this.registry, name, help, labelNames });
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
