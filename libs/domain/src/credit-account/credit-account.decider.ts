import {
  allocate,
  availableAt,
  paidLotExpiry,
  PAID_SOURCES,
  type CreditType,
  type Lot,
  type LotSource,
} from '../lots/lot.js';
import { unitPriceAt } from '../pricing/price-table.js';
import { windowCovering, windowEndsAt } from '../reveal-windows/reveal-window.js';
import { fingerprint } from '../shared/fingerprint.js';
import {
  accountNotFound,
  idempotencyKeyReused,
  insufficientCredits,
  invalidCommand,
  occurredBeforeLatestEvent,
  autoRechargeNotFound,
  autoRechargeNotPending,
  LedgerError,
  purchaseNotFound,
  refundNotAllowed,
  type InvalidField,
} from '../shared/ledger-error.js';
import { DAY_MS, instantOf, iso, type Instant } from '../shared/time.js';
import {
  distinctCompanies,
  idempotencyKeyOf,
  type ChargeRecords,
  type CreditAccountCommand,
  type DispatchWebhook,
  type PurchaseCredits,
  type RevealCompanies,
  type RefundPurchase,
  type AdjustCredits,
  type SetAutoRechargeRule,
  type FailAutoRecharge,
} from './credit-account.commands.js';
import type { BalanceAlertRaised, CompanyRevealed, CreditAccountEvent, CreditsExpired, CreditsPurchased } from './credit-account.events.js';
import { monthKey, type CreditAccountState } from './credit-account.state.js';
import { canonicalJson, fingerprintOfCanonical } from '../shared/fingerprint.js';

/**
 * What a command decides: the events to append (possibly none), and, when the command is refused, why.
 * A refusal usually writes nothing; a refusal that someone downstream must know about (a webhook event
 * that was not triggered) comes with the event that records it.
 */
export interface Decision {
  readonly events: readonly CreditAccountEvent[];
  readonly refusal?: LedgerError;
}

const NOTHING: Decision = { events: [] };

function refuse(refusal: LedgerError): Decision {
  return { events: [], refusal };
}

export function decide(command: CreditAccountCommand, state: CreditAccountState): Decision {
  // A retry is recognised before any other check, so it gets its original answer whatever happened since.
  const print = fingerprintOf(command);
  const previous = state.idempotency.get(idempotencyKeyOf(command));
  if (previous) {
    if (previous.fingerprint !== print) return refuse(keyReused(command));
    // A webhook event refused for lack of credits may be dispatched (and charged) later (rule 8).
    if (!(previous.kind === 'webhook' && previous.status === 'not_triggered')) return NOTHING;
  }

  // Only money in (a purchase, an admin's grant) can start an account's history.
  if (!state.exists && command.type !== 'PurchaseCredits' && command.type !== 'AdjustCredits') {
    return refuse(accountNotFound(command.accountId));
  }
  if (state.latestEventAt !== undefined && command.occurredAt < state.latestEventAt) {
    return refuse(occurredBeforeLatestEvent(iso(command.occurredAt), iso(state.latestEventAt)));
  }

  if (command.type === 'SweepExpiries') return { events: expiriesDue(state, command.accountId, command.occurredAt) };
  const decision = withBalanceAlerts(command, state, withAutoRecharge(command, state, decideCommand(command, state, print)));
  if (decision.events.length === 0) return decision;
  const expiries = expiriesDue(state, command.accountId, command.occurredAt);
  return expiries.length === 0 ? decision : { ...decision, events: [...expiries, ...decision.events] };
}

function decideCommand(
  command: Exclude<CreditAccountCommand, { type: 'SweepExpiries' }>,
  state: CreditAccountState,
  print: string,
): Decision {
  switch (command.type) {
    case 'PurchaseCredits':
      return decidePurchase(command, state, print);
    case 'RevealCompanies':
      return decideReveal(command, state, print);
    case 'ChargeRecords':
      return decideRecordCharge(command, state, print);
    case 'DispatchWebhook':
      return decideWebhookDispatch(command, state, print);
    case 'RefundPurchase':
      return decideRefund(command, state, print);
    case 'AdjustCredits':
      return decideAdjustment(command, state, print);
    case 'SetAutoRechargeRule':
      return decideSetRule(command, state);
    case 'RemoveAutoRechargeRule':
      return state.autoRecharge.rules[command.creditType]
        ? {
            events: [
              {
                type: 'AutoRechargeRuleRemoved',
                data: { accountId: command.accountId, creditType: command.creditType, removedBy: command.removedBy, removedAt: iso(command.occurredAt) },
              },
            ],
          }
        : NOTHING;
    case 'FailAutoRecharge':
      return decideFailure(command, state, print);
    case 'SetBalanceAlerts': {
      const current = state.alerts.rules[command.creditType];
      const percents = [...new Set(command.consumedPercents)].sort((a, b) => a - b);
      if (current && canonicalJson(current) === canonicalJson({ consumedPercents: percents, availableBelow: command.availableBelow })) {
        return NOTHING;
      }
      return {
        events: [
          {
            type: 'BalanceAlertRulesSet',
            data: {
              accountId: command.accountId,
              creditType: command.creditType,
              consumedPercents: percents,
              ...(command.availableBelow !== undefined ? { availableBelow: command.availableBelow } : {}),
              setBy: command.setBy,
              setAt: iso(command.occurredAt),
            },
          },
        ],
      };
    }
  }
}

/**
 * The fingerprint of a record charge, the hot path: a few endpoints and record counts recur, so each is
 * hashed once (up to `MAX_REMEMBERED_PRINTS` of them; then the memory starts again).
 */
function recordChargePrint(endpoint: ChargeRecords['endpoint'], records: number, allowPartial: boolean): string {
  let byRecords = rememberedPrints.get(endpoint);
  let prints = byRecords?.get(records);
  if (prints === undefined) {
    if (rememberedPrintCount >= MAX_REMEMBERED_PRINTS) {
      rememberedPrints.clear();
      rememberedPrintCount = 0;
      byRecords = undefined;
    }
    if (byRecords === undefined) rememberedPrints.set(endpoint, (byRecords = new Map()));
    // The canonical JSON of {type, endpoint, records, allowPartial}, keys already in order.
    const canonical = (partial: boolean) =>
      `{"allowPartial":${partial},"endpoint":${JSON.stringify(endpoint)},"records":${records},"type":"ChargeRecords"}`;
    prints = [fingerprintOfCanonical(canonical(false)), fingerprintOfCanonical(canonical(true))];
    byRecords.set(records, prints);
    rememberedPrintCount++;
  }
  return prints[allowPartial ? 1 : 0];
}

const MAX_REMEMBERED_PRINTS = 10_000;
const rememberedPrints = new Map<string, Map<number, readonly [string, string]>>();
let rememberedPrintCount = 0;

/** The fields that make two commands with the same key "the same call"; never the time or the actor. */
export function fingerprintOf(command: CreditAccountCommand): string {
  switch (command.type) {
    case 'PurchaseCredits':
      return fingerprint({
        type: command.type,
        creditType: command.creditType,
        credits: command.credits,
        paid: command.paid,
        source: command.source ?? defaultSource(command.paid),
        amountMinor: command.amountMinor,
        currency: command.currency,
        invoiceId: command.invoiceId,
        expiresAt: command.expiresAt,
        autoRechargeId: command.autoRechargeId,
      });
    case 'RevealCompanies':
      return fingerprint({
        type: command.type,
        action: command.action,
        companyIds: distinctCompanies(command.companyIds),
        allowPartial: command.allowPartial,
      });
    case 'ChargeRecords':
      return recordChargePrint(command.endpoint, command.records, command.allowPartial);
    case 'DispatchWebhook':
      return fingerprint({ type: command.type, webhookId: command.webhookId, recordType: command.recordType });
    case 'SweepExpiries':
      return fingerprint({ type: command.type });
    case 'RefundPurchase':
      return fingerprint({ type: command.type, purchaseId: command.purchaseId });
    case 'SetAutoRechargeRule':
    case 'RemoveAutoRechargeRule':
      return fingerprint({ type: command.type });
    case 'FailAutoRecharge':
      return fingerprint({ type: command.type, autoRechargeId: command.autoRechargeId });
    case 'SetBalanceAlerts':
      return fingerprint({ type: command.type });
    case 'AdjustCredits':
      return fingerprint({
        type: command.type,
        creditType: command.creditType,
        credits: command.credits,
        reason: command.reason,
        expiresAt: command.expiresAt,
      });
  }
}

function keyReused(command: CreditAccountCommand): LedgerError {
  switch (command.type) {
    case 'PurchaseCredits':
      return idempotencyKeyReused('purchaseId', command.purchaseId);
    case 'RevealCompanies':
    case 'ChargeRecords':
      return idempotencyKeyReused('requestId', command.requestId);
    case 'DispatchWebhook':
      return idempotencyKeyReused('webhookEventId', command.webhookEventId);
    case 'SweepExpiries':
      throw new Error('An expiry sweep has no idempotency key to reuse');
    case 'RefundPurchase':
      return idempotencyKeyReused('purchaseId', command.purchaseId);
    case 'AdjustCredits':
      return idempotencyKeyReused('adjustmentId', command.adjustmentId);
    case 'SetAutoRechargeRule':
    case 'RemoveAutoRechargeRule':
      throw new Error('An auto-recharge rule has no idempotency key to reuse');
    case 'FailAutoRecharge':
      return idempotencyKeyReused('autoRechargeId', command.autoRechargeId);
    case 'SetBalanceAlerts':
      throw new Error('Balance alert rules have no idempotency key to reuse');
  }
}

function defaultSource(paid: boolean): LotSource {
  return paid ? 'purchase' : 'grant';
}

// Rule 2 and 3: every purchase is its own lot; paid lots live 12 calendar months, unpaid ones say how long.
function decidePurchase(command: PurchaseCredits, state: CreditAccountState, print: string): Decision {
  const source = command.source ?? defaultSource(command.paid);
  const problems: InvalidField[] = [];
  const paidSource = (PAID_SOURCES as readonly string[]).includes(source);
  if (command.paid !== paidSource) {
    problems.push({
      field: 'source',
      message: command.paid
        ? `a paid lot's source is one of ${PAID_SOURCES.join(', ')}`
        : `an unpaid lot's source is trial or grant`,
    });
  }
  if (command.paid) {
    if (command.expiresAt !== undefined) {
      problems.push({ field: 'expiresAt', message: 'paid credits expire 12 calendar months after purchase; do not set it' });
    }
    if (command.amountMinor === undefined) problems.push({ field: 'amountMinor', message: 'is required for a paid lot' });
    if (command.currency === undefined) problems.push({ field: 'currency', message: 'is required for a paid lot' });
  } else {
    if (command.expiresAt === undefined) problems.push({ field: 'expiresAt', message: 'is required for an unpaid lot' });
    else if (command.expiresAt <= command.occurredAt) {
      problems.push({ field: 'expiresAt', message: 'must be after the purchase' });
    }
    if (command.amountMinor !== undefined || command.currency !== undefined) {
      problems.push({ field: 'amountMinor', message: 'an unpaid lot has no amount or currency' });
    }
  }
  if (command.autoRechargeId !== undefined && source !== 'auto_recharge') {
    problems.push({ field: 'autoRechargeId', message: 'only an auto_recharge purchase names an auto-recharge request' });
  }
  const request = command.autoRechargeId !== undefined ? state.autoRecharge.requests.get(command.autoRechargeId) : undefined;
  if (request && request.creditType !== command.creditType) {
    problems.push({ field: 'creditType', message: `auto-recharge request ${request.autoRechargeId} is for ${request.creditType} credits` });
  }
  if (problems.length > 0) return refuse(invalidCommand(problems));
  if (command.autoRechargeId !== undefined) {
    // The billing service completes a request it was given: a pending one of this account.
    if (!request) return refuse(autoRechargeNotFound(command.autoRechargeId));
    if (request.status !== 'pending') return refuse(autoRechargeNotPending(request.autoRechargeId, request.status));
  }

  const expiresAt = command.paid ? paidLotExpiry(command.occurredAt) : command.expiresAt!;
  return {
    events: [
      {
        type: 'CreditsPurchased',
        data: {
          accountId: command.accountId,
          purchaseId: command.purchaseId,
          creditType: command.creditType,
          credits: command.credits,
          paid: command.paid,
          source,
          ...(command.amountMinor !== undefined ? { amountMinor: command.amountMinor } : {}),
          ...(command.currency !== undefined ? { currency: command.currency } : {}),
          ...(command.invoiceId !== undefined ? { invoiceId: command.invoiceId } : {}),
          ...(command.autoRechargeId !== undefined ? { autoRechargeId: command.autoRechargeId } : {}),
          purchasedAt: iso(command.occurredAt),
          expiresAt: iso(expiresAt),
          fingerprint: print,
        },
      },
    ],
  };
}

// Rule 5: one company credit per company outside an open window; a charged reveal opens a 90-day window.
function decideReveal(command: RevealCompanies, state: CreditAccountState, print: string): Decision {
  const at = command.occurredAt;
  const companies = distinctCompanies(command.companyIds);
  const toCharge = companies.filter((companyId) => !windowCovering(state.windows.get(companyId), at));
  if (toCharge.length === 0) {
    return {
      events: [
        {
          type: 'RevealServedFree',
          data: {
            accountId: command.accountId,
            requestId: command.requestId,
            action: command.action,
            companies: companies.map((companyId) => ({
              companyId,
              windowEndsAt: iso(windowCovering(state.windows.get(companyId), at)!.endsAt),
            })),
            servedAt: iso(at),
            ...(command.userId !== undefined ? { userId: command.userId } : {}),
            fingerprint: print,
          },
        },
      ],
    };
  }

  const lots = state.spendable.company;
  const available = availableAt(lots, at);
  let charged = toCharge;
  if (available < toCharge.length) {
    if (!command.allowPartial || available === 0) {
      return refuse(insufficientCredits('company', toCharge.length, available));
    }
    charged = toCharge.slice(0, available);
  }

  const allocations = allocate(lots, charged.length, at);
  const revealedAt = iso(at);
  const windowEnd = iso(windowEndsAt(at));
  const events: CompanyRevealed[] = [];
  // Each company is paid by exactly one credit; walk the allocations one credit at a time.
  let lotIndex = 0;
  let usedFromLot = 0;
  for (const companyId of charged) {
    const allocation = allocations[lotIndex]!;
    events.push({
      type: 'CompanyRevealed',
      data: {
        accountId: command.accountId,
        requestId: command.requestId,
        companyId,
        action: command.action,
        revealedAt,
        windowEndsAt: windowEnd,
        creditType: 'company',
        credits: 1,
        allocations: [{ purchaseId: allocation.purchaseId, credits: 1 }],
        ...(command.userId !== undefined ? { userId: command.userId } : {}),
        fingerprint: print,
      },
    });
    usedFromLot += 1;
    if (usedFromLot === allocation.credits) {
      lotIndex += 1;
      usedFromLot = 0;
    }
  }
  return { events };
}

// Rules 6, 7 and 9: per record at the price in force, nothing for no records, all-or-nothing unless partial.
function decideRecordCharge(command: ChargeRecords, state: CreditAccountState, print: string): Decision {
  if (command.records === 0) return NOTHING;
  const at = command.occurredAt;
  const { unitPrice, priceTable } = unitPriceAt(command.endpoint, at);
  const lots = state.spendable.api;
  const available = availableAt(lots, at);
  const required = command.records * unitPrice;
  let recordsBilled = command.records;
  if (available < required) {
    recordsBilled = command.allowPartial ? Math.floor(available / unitPrice) : 0;
    if (recordsBilled === 0) return refuse(insufficientCredits('api', required, available, { unitPrice }));
  }
  const credits = recordsBilled * unitPrice;
  return {
    events: [
      {
        type: 'RecordsReturned',
        data: {
          accountId: command.accountId,
          requestId: command.requestId,
          endpoint: command.endpoint,
          recordsRequested: command.records,
          recordsBilled,
          unitPrice,
          priceTable,
          creditType: 'api',
          credits,
          allocations: allocate(lots, credits, at),
          ...(command.apiKeyId !== undefined ? { apiKeyId: command.apiKeyId } : {}),
          ...(command.userId !== undefined ? { userId: command.userId } : {}),
          chargedAt: iso(at),
          fingerprint: print,
        },
      },
    ],
  };
}

// Rule 8: charged once at first dispatch; refused when the balance cannot pay, and that is recorded once.
function decideWebhookDispatch(command: DispatchWebhook, state: CreditAccountState, print: string): Decision {
  const at = command.occurredAt;
  const { unitPrice, priceTable } = unitPriceAt(`webhook_${command.recordType}`, at);
  const lots = state.spendable.api;
  const available = availableAt(lots, at);
  if (available < unitPrice) {
    const refusal = insufficientCredits('api', unitPrice, available, { status: 'not_triggered' });
    if (state.idempotency.has(`webhook:${command.webhookEventId}`)) return refuse(refusal);
    return {
      events: [
        {
          type: 'WebhookNotTriggered',
          data: {
            accountId: command.accountId,
            webhookEventId: command.webhookEventId,
            webhookId: command.webhookId,
            recordType: command.recordType,
            required: unitPrice,
            available,
            refusedAt: iso(at),
            fingerprint: print,
          },
        },
      ],
      refusal,
    };
  }
  return {
    events: [
      {
        type: 'WebhookDispatched',
        data: {
          accountId: command.accountId,
          webhookEventId: command.webhookEventId,
          webhookId: command.webhookId,
          recordType: command.recordType,
          unitPrice,
          priceTable,
          creditType: 'api',
          credits: unitPrice,
          allocations: allocate(lots, unitPrice, at),
          dispatchedAt: iso(at),
          fingerprint: print,
        },
      },
    ],
  };
}

type ChargeEvent = Extract<CreditAccountEvent, { type: 'RecordsReturned' | 'CompanyRevealed' | 'WebhookDispatched' }>;

/** The events of a decision that consumed credits. */
function chargesIn(events: readonly CreditAccountEvent[]): ChargeEvent[] {
  return events.filter(
    (e): e is ChargeEvent => e.type === 'RecordsReturned' || e.type === 'CompanyRevealed' || e.type === 'WebhookDispatched',
  );
}

/** Failures in a row after which an auto-recharge rule is disabled (rule 10). */
export const AUTO_RECHARGE_FAILURES_TO_DISABLE = 3;

function decideSetRule(command: SetAutoRechargeRule, state: CreditAccountState): Decision {
  const current = state.autoRecharge.rules[command.creditType];
  const unchanged =
    current !== undefined &&
    current.threshold === command.threshold &&
    current.credits === command.credits &&
    current.monthlyCap === command.monthlyCap &&
    current.enabled === command.enabled &&
    current.consecutiveFailures === 0;
  if (unchanged) return NOTHING;
  return {
    events: [
      {
        type: 'AutoRechargeRuleSet',
        data: {
          accountId: command.accountId,
          creditType: command.creditType,
          threshold: command.threshold,
          credits: command.credits,
          ...(command.monthlyCap !== undefined ? { monthlyCap: command.monthlyCap } : {}),
          enabled: command.enabled,
          setBy: command.setBy,
          setAt: iso(command.occurredAt),
        },
      },
    ],
  };
}

// Rule 10: the billing service could not take the payment; three failures in a row disable the rule.
function decideFailure(command: FailAutoRecharge, state: CreditAccountState, print: string): Decision {
  const request = state.autoRecharge.requests.get(command.autoRechargeId);
  if (!request) return refuse(autoRechargeNotFound(command.autoRechargeId));
  if (request.status !== 'pending') return refuse(autoRechargeNotPending(request.autoRechargeId, request.status));
  const rule = state.autoRecharge.rules[request.creditType];
  const consecutiveFailures = (rule?.consecutiveFailures ?? 0) + 1;
  return {
    events: [
      {
        type: 'AutoRechargeFailed',
        data: {
          accountId: command.accountId,
          autoRechargeId: request.autoRechargeId,
          creditType: request.creditType,
          ...(command.reason !== undefined ? { reason: command.reason } : {}),
          consecutiveFailures,
          ruleDisabled: rule !== undefined && rule.enabled && consecutiveFailures >= AUTO_RECHARGE_FAILURES_TO_DISABLE,
          failedAt: iso(command.occurredAt),
          fingerprint: print,
        },
      },
    ],
  };
}

/**
 * Rule 10: a charge that leaves the balance below the rule's threshold, or that is refused for lack of
 * credits, comes with a request to recharge — unless one is already outstanding for that credit type, the
 * rule is disabled, or the month's cap is reached. The request is written with the charge (or, for a
 * refusal, on its own), so it can never be lost between the two.
 */
function withAutoRecharge(command: CreditAccountCommand, state: CreditAccountState, decision: Decision): Decision {
  if (command.type !== 'ChargeRecords' && command.type !== 'RevealCompanies' && command.type !== 'DispatchWebhook') return decision;
  // Most accounts have no rule: nothing below is worth working out for them.
  if (state.autoRecharge.rules.api === undefined && state.autoRecharge.rules.company === undefined) return decision;
  const at = command.occurredAt;
  let creditType: CreditType;
  let balance: number;
  let trigger: 'below_threshold' | 'charge_refused';
  if (decision.refusal?.code === 'CREDITS_INSUFFICIENT') {
    creditType = decision.refusal.details.creditType as CreditType;
    balance = decision.refusal.details.available as number;
    trigger = 'charge_refused';
  } else {
    const charged = chargesIn(decision.events);
    if (charged.length === 0) return decision;
    creditType = charged[0]!.data.creditType;
    balance = availableAt(state.spendable[creditType], at) - charged.reduce((sum, e) => sum + e.data.credits, 0);
    trigger = 'below_threshold';
  }
  const rule = state.autoRecharge.rules[creditType];
  if (!rule || !rule.enabled || state.autoRecharge.outstanding[creditType] !== undefined) return decision;
  if (trigger === 'below_threshold' && balance >= rule.threshold) return decision;
  if (rule.monthlyCap !== undefined && (state.autoRecharge.perMonth.get(monthKey(creditType, at)) ?? 0) >= rule.monthlyCap) {
    return decision;
  }
  const autoRechargeId = `ar-${creditType}-${state.autoRecharge.requests.size + 1}`;
  const request: CreditAccountEvent = {
    type: 'AutoRechargeRequested',
    data: {
      accountId: command.accountId,
      autoRechargeId,
      creditType,
      credits: rule.credits,
      trigger,
      balance,
      threshold: rule.threshold,
      requestedAt: iso(at),
    },
  };
  const refusal = decision.refusal
    ? new LedgerError(decision.refusal.code, decision.refusal.message, { ...decision.refusal.details, autoRechargeRequested: autoRechargeId })
    : undefined;
  return { events: [...decision.events, request], ...(refusal ? { refusal } : {}) };
}

/**
 * Alerts for the account's owner: a charge that makes the month's consumption reach a percentage of the
 * credits bought that month, or that takes the available balance below a floor, raises one alert. It is a
 * crossing (below before, at or above after), so it is raised once; after a purchase lifts the balance, the
 * next crossing raises again.
 */
function withBalanceAlerts(command: CreditAccountCommand, state: CreditAccountState, decision: Decision): Decision {
  if (decision.refusal) return decision;
  if (state.alerts.rules.api === undefined && state.alerts.rules.company === undefined) return decision;
  const charged = chargesIn(decision.events);
  if (charged.length === 0) return decision;
  const creditType = charged[0]!.data.creditType;
  const rules = state.alerts.rules[creditType];
  if (!rules) return decision;
  const at = command.occurredAt;
  const credits = charged.reduce((sum, e) => sum + e.data.credits, 0);
  const availableBefore = availableAt(state.spendable[creditType], at);
  const available = availableBefore - credits;
  const month = monthKey(creditType, at);
  const { bought, consumed: consumedBefore } = state.alerts.months.get(month) ?? { bought: 0, consumed: 0 };
  const consumed = consumedBefore + credits;
  const alerts: CreditAccountEvent[] = [];
  const raise = (data: Omit<BalanceAlertRaised['data'], 'accountId' | 'alertId' | 'creditType' | 'available' | 'raisedAt'>) =>
    alerts.push({
      type: 'BalanceAlertRaised',
      data: {
        accountId: command.accountId,
        alertId: `alert-${state.alerts.raised + alerts.length + 1}`,
        creditType,
        available,
        raisedAt: iso(at),
        ...data,
      },
    });
  if (bought > 0) {
    for (const percent of rules.consumedPercents) {
      if (consumedBefore * 100 < percent * bought && consumed * 100 >= percent * bought) {
        raise({ kind: 'consumed_percent', threshold: percent, month: month.slice(month.indexOf('|') + 1), consumed, bought });
      }
    }
  }
  if (rules.availableBelow !== undefined && availableBefore >= rules.availableBelow && available < rules.availableBelow) {
    raise({ kind: 'available_below', threshold: rules.availableBelow });
  }
  return alerts.length === 0 ? decision : { ...decision, events: [...decision.events, ...alerts] };
}

function closedLot(purchase: CreditsPurchased['data']): Pick<Lot, 'paid' | 'credits' | 'remaining' | 'expiresAt' | 'purchasedAt' | 'creditType'> {
  return {
    paid: purchase.paid,
    credits: purchase.credits,
    remaining: 0,
    expiresAt: instantOf(purchase.expiresAt),
    purchasedAt: instantOf(purchase.purchasedAt),
    creditType: purchase.creditType,
  };
}

/** How long after a purchase it may still be refunded (rule 11). */
export const REFUND_WINDOW_DAYS = 90;

// Rule 11: only a paid purchase none of whose credits were used, within 90 days; the lot leaves the balance.
function decideRefund(command: RefundPurchase, state: CreditAccountState, print: string): Decision {
  const at = command.occurredAt;
  const purchase = state.idempotency.get(`purchase:${command.purchaseId}`);
  if (purchase?.kind !== 'purchase') return refuse(purchaseNotFound(command.purchaseId));
  // A lot nothing is left of has left the state: it is what its purchase says, all of it gone. (A refunded
  // one never gets here: a second refund of a purchase has the first one's idempotency key.)
  const lot = state.lots.get(command.purchaseId) ?? closedLot(purchase.purchase);
  const id = command.purchaseId;
  if (!lot.paid) return refuse(refundNotAllowed(id, 'not_paid', `${id} was not paid for: there is nothing to refund`));
  if (lot.expiresAt <= at) return refuse(refundNotAllowed(id, 'already_expired', `${id} has expired`));
  const consumed = lot.credits - lot.remaining;
  if (consumed > 0) {
    return refuse(
      refundNotAllowed(id, 'credits_consumed', `${consumed} of the ${lot.credits} credits of ${id} were used: it cannot be refunded`, {
        consumed,
      }),
    );
  }
  const refundableUntil = lot.purchasedAt + REFUND_WINDOW_DAYS * DAY_MS;
  if (at > refundableUntil) {
    return refuse(
      refundNotAllowed(id, 'refund_window_passed', `${id} was bought more than ${REFUND_WINDOW_DAYS} days ago`, {
        refundableUntil: iso(refundableUntil),
      }),
    );
  }
  const { amountMinor, currency, invoiceId } = purchase.purchase;
  return {
    events: [
      {
        type: 'PurchaseRefunded',
        data: {
          accountId: command.accountId,
          purchaseId: id,
          creditType: lot.creditType,
          credits: lot.credits,
          ...(amountMinor !== undefined ? { amountMinor } : {}),
          ...(currency !== undefined ? { currency } : {}),
          ...(invoiceId !== undefined ? { invoiceId } : {}),
          ...(command.reason !== undefined ? { reason: command.reason } : {}),
          refundedBy: command.refundedBy,
          refundedAt: iso(at),
          fingerprint: print,
        },
      },
    ],
  };
}

// Adjustments: a grant is a lot of its own; a removal takes from the lots in spending order, never below zero.
function decideAdjustment(command: AdjustCredits, state: CreditAccountState, print: string): Decision {
  const at = command.occurredAt;
  const base = {
    accountId: command.accountId,
    adjustmentId: command.adjustmentId,
    creditType: command.creditType,
    credits: command.credits,
    reason: command.reason,
    adjustedBy: command.adjustedBy,
    adjustedAt: iso(at),
    fingerprint: print,
  };
  if (command.credits > 0) {
    const expiresAt = command.expiresAt ?? paidLotExpiry(at);
    if (expiresAt <= at) return refuse(invalidCommand([{ field: 'expiresAt', message: 'must be after the adjustment' }]));
    return {
      events: [{ type: 'CreditsAdjusted', data: { ...base, lotId: `adjustment:${command.adjustmentId}`, expiresAt: iso(expiresAt) } }],
    };
  }
  if (command.expiresAt !== undefined) {
    return refuse(invalidCommand([{ field: 'expiresAt', message: 'only a grant (positive credits) has an expiry' }]));
  }
  const lots = state.spendable[command.creditType];
  const required = -command.credits;
  const available = availableAt(lots, at);
  if (available < required) return refuse(insufficientCredits(command.creditType, required, available));
  return { events: [{ type: 'CreditsAdjusted', data: { ...base, allocations: allocate(lots, required, at) } }] };
}

/**
 * Rule 3: the remainder of every lot whose expiry has passed is recorded as expired, at its expiry
 * instant, before anything else happens on the account. Balances never counted it after expiry; this
 * makes the breakage visible to finance.
 */
export function expiriesDue(state: CreditAccountState, accountId: string, at: Instant): CreditsExpired[] {
  const due: Lot[] = [];
  for (const creditType of ['api', 'company'] as const satisfies readonly CreditType[]) {
    for (const lot of state.spendable[creditType]) {
      if (lot.expiresAt > at) break; // spending order is by expiry first
      if (lot.remaining > 0) due.push(lot);
    }
  }
  due.sort((a, b) => a.expiresAt - b.expiresAt);
  return due.map((lot) => ({
    type: 'CreditsExpired',
    data: {
      accountId,
      purchaseId: lot.purchaseId,
      creditType: lot.creditType,
      credits: lot.remaining,
      paid: lot.paid,
      expiredAt: iso(lot.expiresAt),
    },
  }));
}
