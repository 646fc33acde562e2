import {
  availableAt,
  insertInSpendingOrder,
  type Allocation,
  type CreditType,
  type Lot,
} from '../lots/lot.js';
import { windowOpenedBy, type RevealWindow } from '../reveal-windows/reveal-window.js';
import { instantOf, type Instant } from '../shared/time.js';
import {
  assertNever,
  type CreditAccountEvent,
  type AutoRechargeFailed,
  type CreditsAdjusted,
  type CreditsPurchased,
  type PurchaseRefunded,
  type RevealAction,
} from './credit-account.events.js';
import { entryKey, IdempotencyEntries } from './idempotency-entries.js';

export interface Balance {
  readonly available: number;
}

export interface Balances {
  readonly api: Balance;
  readonly company: Balance;
}

/**
 * The credits available once an entry's command was applied, as two numbers of the entry itself. An
 * account keeps an entry for every key it was sent (up to 100,000 in memory): a `Balances` of its own was
 * three more objects an entry for the collector to copy, promote and mark, a third of the entry's memory.
 */
export interface AvailableAfter {
  readonly apiAvailable: number;
  readonly companyAvailable: number;
}

/** What a command with an idempotency key produced, so that a retry gets the very same answer. */
export type IdempotencyEntry =
  | ({
      readonly kind: 'purchase';
      readonly fingerprint: string;
      readonly purchase: CreditsPurchased['data'];
    } & AvailableAfter)
  | ({
      readonly kind: 'records';
      readonly fingerprint: string;
      readonly recordsBilled: number;
      readonly unitPrice: number;
      readonly creditsCharged: number;
    } & AvailableAfter)
  | {
      readonly kind: 'reveal';
      readonly fingerprint: string;
      readonly action: RevealAction;
      readonly at: Instant;
      /** Mutable while the request's events are applied one company at a time. */
      charged: { companyId: string; windowEndsAt: Instant }[];
      apiAvailable: number;
      companyAvailable: number;
    }
  | ({
      readonly kind: 'refund';
      readonly fingerprint: string;
      readonly refund: PurchaseRefunded['data'];
    } & AvailableAfter)
  | ({
      readonly kind: 'adjustment';
      readonly fingerprint: string;
      readonly adjustment: CreditsAdjusted['data'];
    } & AvailableAfter)
  | {
      readonly kind: 'auto-recharge-failure';
      readonly fingerprint: string;
      readonly failure: AutoRechargeFailed['data'];
    }
  | ({
      readonly kind: 'webhook';
      readonly fingerprint: string;
      readonly status: 'dispatched' | 'not_triggered';
      readonly creditsCharged: number;
    } & AvailableAfter);

export interface AutoRechargeRule {
  readonly threshold: number;
  readonly credits: number;
  readonly monthlyCap?: number;
  enabled: boolean;
  /** Payment failures in a row; a completed recharge or a new rule resets it. */
  consecutiveFailures: number;
}

export interface AutoRechargeRequest {
  readonly autoRechargeId: string;
  readonly creditType: CreditType;
  readonly credits: number;
  readonly requestedAt: Instant;
  status: 'pending' | 'completed' | 'failed';
  purchaseId?: string;
}

export interface AutoRechargeState {
  readonly rules: Partial<Record<CreditType, AutoRechargeRule>>;
  readonly requests: Map<string, AutoRechargeRequest>;
  /** The request waiting for the billing service, per credit type: at most one. */
  readonly outstanding: Partial<Record<CreditType, string>>;
  /** Requests per credit type and calendar month (UTC), for the monthly cap. */
  readonly perMonth: Map<string, number>;
}

export interface BalanceAlertRules {
  readonly consumedPercents: readonly number[];
  readonly availableBelow?: number;
}

export interface BalanceAlertState {
  readonly rules: Partial<Record<CreditType, BalanceAlertRules>>;
  /** Credits bought and consumed per credit type and calendar month (UTC), for percentage alerts. */
  readonly months: Map<string, { bought: number; consumed: number }>;
  raised: number;
}

// Every charge asks for its month; almost all fall in the same one as the charge before.
let cachedMonth = { from: 0, to: -1, month: '' };

export function monthKey(creditType: CreditType, at: Instant): string {
  if (at < cachedMonth.from || at >= cachedMonth.to) {
    const d = new Date(at);
    const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    cachedMonth = { from, to, month: new Date(from).toISOString().slice(0, 7) };
  }
  return `${creditType}|${cachedMonth.month}`;
}

/**
 * The state a decision is taken against. For speed on accounts with millions of events, `evolve`
 * applies an event to the state it is given instead of copying it: whoever holds a state owns it, and
 * must reload it (not reuse it) if the events it applied turn out not to have been stored.
 */
export interface CreditAccountState {
  exists: boolean;
  latestEventAt: Instant | undefined;
  /** Lots that still have spendable credits, in spending order (rule 4). */
  readonly spendable: Record<CreditType, Lot[]>;
  /**
   * The lots with credits left, by purchase id (spendable or not yet recorded as expired). A lot leaves
   * when nothing is left of it (spent, its expiry recorded, refunded): the state, and every snapshot of it,
   * must not grow with the account's history. A refund's refusal for such a lot is told from its purchase's
   * idempotency entry.
   */
  readonly lots: Map<string, Lot>;
  /** Every reveal window of each company, oldest first. */
  readonly windows: Map<string, RevealWindow[]>;
  readonly idempotency: IdempotencyEntries;
  readonly autoRecharge: AutoRechargeState;
  readonly alerts: BalanceAlertState;
}

export function initialState(): CreditAccountState {
  return {
    exists: false,
    latestEventAt: undefined,
    spendable: { api: [], company: [] },
    lots: new Map(),
    windows: new Map(),
    idempotency: new IdempotencyEntries(),
    autoRecharge: { rules: {}, requests: new Map(), outstanding: {}, perMonth: new Map() },
    alerts: { rules: {}, months: new Map(), raised: 0 },
  };
}

/** Balances count only lots unexpired at the instant asked about (rule 3). */
export function balancesAt(state: CreditAccountState, at: Instant): Balances {
  return {
    api: { available: availableAt(state.spendable.api, at) },
    company: { available: availableAt(state.spendable.company, at) },
  };
}

/** The balances an idempotency entry answers with. */
export function balancesOf(entry: AvailableAfter): Balances {
  return { api: { available: entry.apiAvailable }, company: { available: entry.companyAvailable } };
}

export function evolve(state: CreditAccountState, event: CreditAccountEvent): CreditAccountState {
  state.exists = true;
  switch (event.type) {
    case 'CreditsPurchased': {
      const d = event.data;
      const at = instantOf(d.purchasedAt);
      const lot: Lot = {
        purchaseId: d.purchaseId,
        creditType: d.creditType,
        paid: d.paid,
        source: d.source,
        credits: d.credits,
        purchasedAt: at,
        expiresAt: instantOf(d.expiresAt),
        ...(d.invoiceId !== undefined ? { invoiceId: d.invoiceId } : {}),
        remaining: d.credits,
        expired: 0,
        refunded: false,
      };
      state.lots.set(lot.purchaseId, lot);
      insertInSpendingOrder(state.spendable[lot.creditType], lot);
      state.latestEventAt = at;
      if (d.autoRechargeId !== undefined) completeAutoRecharge(state, d.autoRechargeId, d.purchaseId);
      monthFigures(state, d.creditType, at).bought += d.credits;
      state.idempotency.set(entryKey('purchase:', d.purchaseId), {
        kind: 'purchase',
        fingerprint: d.fingerprint,
        purchase: d,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'CompanyRevealed': {
      const d = event.data;
      const at = instantOf(d.revealedAt);
      spend(state, 'company', d.allocations);
      monthFigures(state, 'company', at).consumed += d.credits;
      const window = windowOpenedBy(d.requestId, at);
      const windows = state.windows.get(d.companyId);
      if (windows) windows.push(window);
      else state.windows.set(d.companyId, [window]);
      state.latestEventAt = at;
      const key = entryKey('request:', d.requestId);
      const existing = state.idempotency.get(key);
      const apiAvailable = availableAt(state.spendable.api, at);
      const companyAvailable = availableAt(state.spendable.company, at);
      if (existing?.kind === 'reveal' && existing.fingerprint === d.fingerprint && existing.at === at) {
        existing.charged.push({ companyId: d.companyId, windowEndsAt: window.endsAt });
        existing.apiAvailable = apiAvailable;
        existing.companyAvailable = companyAvailable;
      } else {
        state.idempotency.set(key, {
          kind: 'reveal',
          fingerprint: d.fingerprint,
          action: d.action,
          at,
          charged: [{ companyId: d.companyId, windowEndsAt: window.endsAt }],
          apiAvailable,
          companyAvailable,
        });
      }
      return state;
    }
    case 'RevealServedFree': {
      const d = event.data;
      const at = instantOf(d.servedAt);
      state.latestEventAt = at;
      state.idempotency.set(entryKey('request:', d.requestId), {
        kind: 'reveal',
        fingerprint: d.fingerprint,
        action: d.action,
        at,
        charged: [],
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'RecordsReturned': {
      const d = event.data;
      const at = instantOf(d.chargedAt);
      spend(state, 'api', d.allocations);
      monthFigures(state, 'api', at).consumed += d.credits;
      state.latestEventAt = at;
      state.idempotency.set(entryKey('request:', d.requestId), {
        kind: 'records',
        fingerprint: d.fingerprint,
        recordsBilled: d.recordsBilled,
        unitPrice: d.unitPrice,
        creditsCharged: d.credits,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'WebhookDispatched': {
      const d = event.data;
      const at = instantOf(d.dispatchedAt);
      spend(state, 'api', d.allocations);
      monthFigures(state, 'api', at).consumed += d.credits;
      state.latestEventAt = at;
      state.idempotency.set(entryKey('webhook:', d.webhookEventId), {
        kind: 'webhook',
        fingerprint: d.fingerprint,
        status: 'dispatched',
        creditsCharged: d.credits,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'WebhookNotTriggered': {
      const d = event.data;
      const at = instantOf(d.refusedAt);
      state.latestEventAt = at;
      state.idempotency.set(entryKey('webhook:', d.webhookEventId), {
        kind: 'webhook',
        fingerprint: d.fingerprint,
        status: 'not_triggered',
        creditsCharged: 0,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'CreditsExpired': {
      const d = event.data;
      const lot = lotOrThrow(state, d.purchaseId);
      if (lot.remaining < d.credits) {
        throw new InconsistentHistoryError(
          `CreditsExpired takes ${d.credits} from lot ${d.purchaseId} which has ${lot.remaining}`,
        );
      }
      lot.remaining -= d.credits;
      lot.expired += d.credits;
      if (lot.remaining === 0) close(state, lot);
      state.latestEventAt = instantOf(d.expiredAt);
      return state;
    }
    case 'PurchaseRefunded': {
      const d = event.data;
      const lot = lotOrThrow(state, d.purchaseId);
      if (lot.refunded || lot.remaining !== d.credits) {
        throw new InconsistentHistoryError(`PurchaseRefunded of ${d.purchaseId} whose lot has ${lot.remaining} of ${lot.credits} left`);
      }
      lot.remaining = 0;
      lot.refunded = true;
      close(state, lot);
      const at = instantOf(d.refundedAt);
      state.latestEventAt = at;
      state.idempotency.set(entryKey('refund:', d.purchaseId), {
        kind: 'refund',
        fingerprint: d.fingerprint,
        refund: d,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'CreditsAdjusted': {
      const d = event.data;
      const at = instantOf(d.adjustedAt);
      if (d.credits > 0) {
        const lot: Lot = {
          purchaseId: d.lotId!,
          creditType: d.creditType,
          paid: false,
          source: 'adjustment',
          credits: d.credits,
          purchasedAt: at,
          expiresAt: instantOf(d.expiresAt!),
          remaining: d.credits,
          expired: 0,
          refunded: false,
        };
        state.lots.set(lot.purchaseId, lot);
        insertInSpendingOrder(state.spendable[lot.creditType], lot);
      } else {
        spend(state, d.creditType, d.allocations ?? []);
      }
      state.latestEventAt = at;
      state.idempotency.set(entryKey('adjustment:', d.adjustmentId), {
        kind: 'adjustment',
        fingerprint: d.fingerprint,
        adjustment: d,
        apiAvailable: availableAt(state.spendable.api, at),
        companyAvailable: availableAt(state.spendable.company, at),
      });
      return state;
    }
    case 'AutoRechargeRuleSet': {
      const d = event.data;
      (state.autoRecharge.rules as Record<CreditType, AutoRechargeRule>)[d.creditType] = {
        threshold: d.threshold,
        credits: d.credits,
        ...(d.monthlyCap !== undefined ? { monthlyCap: d.monthlyCap } : {}),
        enabled: d.enabled,
        consecutiveFailures: 0,
      };
      state.latestEventAt = instantOf(d.setAt);
      return state;
    }
    case 'AutoRechargeRuleRemoved': {
      delete (state.autoRecharge.rules as Record<CreditType, AutoRechargeRule | undefined>)[event.data.creditType];
      state.latestEventAt = instantOf(event.data.removedAt);
      return state;
    }
    case 'AutoRechargeRequested': {
      const d = event.data;
      const at = instantOf(d.requestedAt);
      const { autoRecharge } = state;
      autoRecharge.requests.set(d.autoRechargeId, {
        autoRechargeId: d.autoRechargeId,
        creditType: d.creditType,
        credits: d.credits,
        requestedAt: at,
        status: 'pending',
      });
      (autoRecharge.outstanding as Record<CreditType, string | undefined>)[d.creditType] = d.autoRechargeId;
      const month = monthKey(d.creditType, at);
      autoRecharge.perMonth.set(month, (autoRecharge.perMonth.get(month) ?? 0) + 1);
      state.latestEventAt = at;
      return state;
    }
    case 'AutoRechargeFailed': {
      const d = event.data;
      const request = state.autoRecharge.requests.get(d.autoRechargeId);
      if (!request) throw new InconsistentHistoryError(`AutoRechargeFailed of unknown request ${d.autoRechargeId}`);
      request.status = 'failed';
      const outstanding = state.autoRecharge.outstanding as Record<CreditType, string | undefined>;
      if (outstanding[d.creditType] === d.autoRechargeId) outstanding[d.creditType] = undefined;
      const rule = state.autoRecharge.rules[d.creditType];
      if (rule) {
        rule.consecutiveFailures = d.consecutiveFailures;
        if (d.ruleDisabled) rule.enabled = false;
      }
      state.latestEventAt = instantOf(d.failedAt);
      state.idempotency.set(entryKey('auto-recharge-failure:', d.autoRechargeId), { kind: 'auto-recharge-failure', fingerprint: d.fingerprint, failure: d });
      return state;
    }
    case 'BalanceAlertRulesSet': {
      const d = event.data;
      (state.alerts.rules as Record<CreditType, BalanceAlertRules>)[d.creditType] = {
        consumedPercents: [...d.consumedPercents],
        ...(d.availableBelow !== undefined ? { availableBelow: d.availableBelow } : {}),
      };
      state.latestEventAt = instantOf(d.setAt);
      return state;
    }
    case 'BalanceAlertRaised':
      state.alerts.raised += 1;
      state.latestEventAt = instantOf(event.data.raisedAt);
      return state;
    default:
      return assertNever(event);
  }
}

export function monthFigures(state: CreditAccountState, creditType: CreditType, at: Instant): { bought: number; consumed: number } {
  const key = monthKey(creditType, at);
  let figures = state.alerts.months.get(key);
  if (!figures) state.alerts.months.set(key, (figures = { bought: 0, consumed: 0 }));
  return figures;
}

function completeAutoRecharge(state: CreditAccountState, autoRechargeId: string, purchaseId: string): void {
  const request = state.autoRecharge.requests.get(autoRechargeId);
  if (!request) throw new InconsistentHistoryError(`A purchase completes unknown auto-recharge request ${autoRechargeId}`);
  request.status = 'completed';
  request.purchaseId = purchaseId;
  const outstanding = state.autoRecharge.outstanding as Record<CreditType, string | undefined>;
  if (outstanding[request.creditType] === autoRechargeId) outstanding[request.creditType] = undefined;
  const rule = state.autoRecharge.rules[request.creditType];
  if (rule) rule.consecutiveFailures = 0;
}

/** The stream says something the rules never produce: a bug or a tampered stream, never user error. */
export class InconsistentHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InconsistentHistoryError';
  }
}

function lotOrThrow(state: CreditAccountState, purchaseId: string): Lot {
  const lot = state.lots.get(purchaseId);
  if (!lot) throw new InconsistentHistoryError(`Unknown lot ${purchaseId}`);
  return lot;
}

function spend(state: CreditAccountState, creditType: CreditType, allocations: readonly Allocation[]): void {
  for (const { purchaseId, credits } of allocations) {
    const lot = lotOrThrow(state, purchaseId);
    if (lot.creditType !== creditType || lot.remaining < credits) {
      throw new InconsistentHistoryError(
        `Allocation of ${credits} ${creditType} credits from lot ${purchaseId} (${lot.creditType}, ${lot.remaining} left)`,
      );
    }
    lot.remaining -= credits;
    if (lot.remaining === 0) close(state, lot);
  }
}

/** A lot nothing is left of leaves the state. */
function close(state: CreditAccountState, lot: Lot): void {
  const spendable = state.spendable[lot.creditType];
  const index = spendable.indexOf(lot);
  if (index >= 0) spendable.splice(index, 1);
  state.lots.delete(lot.purchaseId);
}
