import {
  decide,
  evolve,
  initialState,
  occurredAtOf,
  instantOf,
  type CreditAccountCommand,
  type CreditAccountEvent,
} from '#domain';
import { balancesProjection } from './balances.projection.js';
import { foldProjection, type ProjectedEvent, type Projection } from './projection.js';
import { revealWindowKey, revealWindowsProjection } from './reveal-windows.projection.js';
import { usageBucketKey, usageProjection } from './usage.projection.js';
import { autoRechargesProjection } from './auto-recharges.projection.js';
import { balanceAlertsProjection } from './balance-alerts.projection.js';
import { accountActivityProjection } from './account-activity.projection.js';
import { purchaseKey, purchasesProjection } from './purchases.projection.js';

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const MIN = 60_000;

/** Events as the decider produces them for a short history of one account, with global positions. */
function history(accountId: string, commands: readonly CreditAccountCommand[], firstPosition = 100n): ProjectedEvent[] {
  const state = initialState();
  const events: CreditAccountEvent[] = [];
  for (const command of commands) {
    const decision = decide(command, state);
    for (const event of decision.events) {
      evolve(state, event);
      events.push(event);
    }
  }
  return events.map((event, i) => ({
    position: firstPosition + BigInt(i) * 10n,
    accountId,
    revision: BigInt(i),
    event,
    occurredAt: instantOf(occurredAtOf(event)),
    metadata: { actor: { service: 'gateway', userId: 'u-meta' } },
    actorUserId: 'u-meta',
  }));
}

const A = 'acct-1';
const commands: CreditAccountCommand[] = [
  { type: 'PurchaseCredits', accountId: A, occurredAt: T0, purchaseId: 'p-api', creditType: 'api', credits: 100, paid: true, amountMinor: 1000, currency: 'USD' },
  { type: 'PurchaseCredits', accountId: A, occurredAt: T0 + MIN, purchaseId: 'p-co', creditType: 'company', credits: 10, paid: false, source: 'trial', expiresAt: T0 + 30 * 86_400_000 },
  { type: 'SetBalanceAlerts', accountId: A, occurredAt: T0 + MIN, creditType: 'api', consumedPercents: [10], setBy: 'owner' },
  { type: 'SetAutoRechargeRule', accountId: A, occurredAt: T0 + MIN, creditType: 'api', threshold: 90, credits: 500, enabled: true, setBy: 'admin' },
  { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 2 * MIN, requestId: 'r-1', endpoint: 'company_search', records: 4, allowPartial: false, apiKeyId: 'k-1', userId: 'u-ana' },
  { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 3 * MIN, requestId: 'r-2', endpoint: 'job_search', records: 5, allowPartial: false },
  { type: 'RevealCompanies', accountId: A, occurredAt: T0 + 20 * MIN, requestId: 'rv-1', companyIds: ['c1', 'c2'], action: 'reveal', allowPartial: false, userId: 'u-ben' },
  { type: 'RevealCompanies', accountId: A, occurredAt: T0 + 21 * MIN, requestId: 'rv-2', companyIds: ['c1'], action: 'export', allowPartial: false },
  { type: 'DispatchWebhook', accountId: A, occurredAt: T0 + 22 * MIN, webhookEventId: 'e-1', webhookId: 'w-jobs', recordType: 'job' },
];

function docs<Doc>(projection: Projection<Doc>, events: readonly ProjectedEvent[]) {
  return new Map([...foldProjection(projection, events)].map(([key, stored]) => [key, stored?.doc]));
}

describe.each([
  ['balances', balancesProjection],
  ['reveal windows', revealWindowsProjection],
  ['usage', usageProjection],
  ['auto recharges', autoRechargesProjection],
  ['balance alerts', balanceAlertsProjection],
  ['account activity', accountActivityProjection],
  ['purchases', purchasesProjection],
] as const)('the %s projection', (_name, projection) => {
  it('gives the same read model when the same events are applied twice', () => {
    const events = history(A, commands);
    const once = docs(projection as Projection<unknown>, events);
    const twice = docs(projection as Projection<unknown>, [...events, ...events]);
    expect(twice).toEqual(once);
    expect(once.size).toBeGreaterThan(0);
  });

  it('gives the same read model when a replay restarts in the middle', () => {
    const events = history(A, commands);
    const whole = foldProjection(projection as Projection<unknown>, events);
    const resumed = foldProjection(projection as Projection<unknown>, events.slice(0, 4));
    foldProjection(projection as Projection<unknown>, events.slice(2), resumed);
    expect(resumed).toEqual(whole);
  });
});

describe('what the read models say', () => {
  const events = history(A, commands);

  it('balances: each open lot with what is left of it, in purchase order', () => {
    const balance = docs(balancesProjection, events).get(A)!;
    expect(balance.lots.map((l) => [l.purchaseId, l.remaining])).toEqual([
      ['p-api', 100 - 12 - 5 - 1],
      ['p-co', 10 - 2],
    ]);
    expect(balance.lots[0]).toMatchObject({ paid: true, amountMinor: 1000, currency: 'USD' });
  });

  it('balances: a lot spent to nothing leaves the document, the next one spent stays', () => {
    const spent = history(A, [
      { type: 'PurchaseCredits', accountId: A, occurredAt: T0, purchaseId: 'small', creditType: 'api', credits: 5, paid: true, amountMinor: 50, currency: 'USD' },
      { type: 'PurchaseCredits', accountId: A, occurredAt: T0 + MIN, purchaseId: 'large', creditType: 'api', credits: 100, paid: true, amountMinor: 900, currency: 'USD' },
      { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 2 * MIN, requestId: 'r-1', endpoint: 'job_search', records: 3, allowPartial: false },
      { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 3 * MIN, requestId: 'r-2', endpoint: 'job_search', records: 4, allowPartial: false },
    ]);
    expect(docs(balancesProjection, spent.slice(0, 3)).get(A)!.lots.map((l) => [l.purchaseId, l.remaining])).toEqual([
      ['small', 2],
      ['large', 100],
    ]);
    expect(docs(balancesProjection, spent).get(A)!.lots.map((l) => [l.purchaseId, l.remaining])).toEqual([['large', 98]]);
    expect(docs(purchasesProjection, spent).size).toBe(2);
  });

  it('reveal windows: the latest window of each company, and how often it was charged', () => {
    const windows = docs(revealWindowsProjection, events);
    expect(windows.get(revealWindowKey(A, 'c1'))).toMatchObject({ requestId: 'rv-1', charges: 1, action: 'reveal' });
    expect(windows.get(revealWindowKey(A, 'c2'))).toMatchObject({ windowEndsAt: new Date(T0 + 20 * MIN + 90 * 86_400_000).toISOString() });
  });

  it('usage: credits by source, requests, webhooks and attribution per 15-minute bucket', () => {
    const usage = docs(usageProjection, events);
    const first = usage.get(usageBucketKey(A, T0))!;
    expect(first.credits).toEqual({ api: 17, company: 0 });
    expect(first.bySource).toMatchObject({ company_search: 12, job_search: 5 });
    expect(first.requests).toBe(2);
    expect(first.byApiKey).toEqual({ 'k-1': { api: 12 } });
    expect(first.byUser).toEqual({ 'u-ana': { api: 12, company: 0 }, 'u-meta': { api: 5, company: 0 } });
    const second = usage.get(usageBucketKey(A, T0 + 20 * MIN))!;
    expect(second.credits).toEqual({ api: 1, company: 2 });
    expect(second.bySource).toMatchObject({ reveals: 2, exports: 0, webhooks: 1 });
    expect(second.requests).toBe(3); // one reveal request of two companies, one free export, one webhook
    expect(second.webhooks).toEqual({ 'w-jobs': { dispatched: 1, not_triggered: 0 } });
  });
});

describe('when callers name their users, keys and webhooks like built-in properties', () => {
  const tricky: CreditAccountCommand[] = [
    { type: 'PurchaseCredits', accountId: A, occurredAt: T0, purchaseId: 'p', creditType: 'api', credits: 100, paid: true, amountMinor: 1, currency: 'USD' },
    { type: 'ChargeRecords', accountId: A, occurredAt: T0 + MIN, requestId: 'r-1', endpoint: 'job_search', records: 2, allowPartial: false, apiKeyId: 'hasOwnProperty', userId: 'constructor' },
    { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 2 * MIN, requestId: 'r-2', endpoint: 'job_search', records: 3, allowPartial: false, apiKeyId: 'hasOwnProperty', userId: 'constructor' },
    { type: 'DispatchWebhook', accountId: A, occurredAt: T0 + 3 * MIN, webhookEventId: 'e-1', webhookId: 'toString', recordType: 'job' },
    { type: 'ChargeRecords', accountId: A, occurredAt: T0 + 4 * MIN, requestId: 'r-3', endpoint: 'job_search', records: 4, allowPartial: false, apiKeyId: '__proto__', userId: '__proto__' },
    { type: 'DispatchWebhook', accountId: A, occurredAt: T0 + 5 * MIN, webhookEventId: 'e-2', webhookId: '__proto__', recordType: 'job' },
  ];

  it('counts them like any other id, and touches no prototype', () => {
    const bucket = docs(usageProjection, history(A, tricky)).get(usageBucketKey(A, T0))!;
    const proto = (record: object) => Object.getOwnPropertyDescriptor(record, '__proto__')?.value as unknown;
    expect(Object.keys(bucket.byUser)).toEqual(['constructor', '__proto__']);
    expect(bucket.byUser.constructor).toEqual({ api: 5, company: 0 });
    expect(proto(bucket.byUser)).toEqual({ api: 4, company: 0 });
    expect(Object.keys(bucket.byApiKey)).toEqual(['hasOwnProperty', '__proto__']);
    expect(bucket.byApiKey.hasOwnProperty).toEqual({ api: 5 });
    expect(proto(bucket.byApiKey)).toEqual({ api: 4 });
    expect(Object.keys(bucket.webhooks)).toEqual(['toString', '__proto__']);
    expect(proto(bucket.webhooks)).toEqual({ dispatched: 1, not_triggered: 0 });
    // Every record keeps its own prototype, and so does Object.
    for (const record of [bucket.byUser, bucket.byApiKey, bucket.webhooks]) expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    const stored = JSON.parse(JSON.stringify(bucket));
    expect(stored.byUser.constructor).toEqual({ api: 5, company: 0 });
    expect(proto(stored.byUser)).toEqual({ api: 4, company: 0 });
    expect(Object.keys(Object)).toEqual([]);
  });
});

describe('folding in place (what the engine and replays do)', () => {
  const DAY = 86_400_000;
  /** A longer history with every kind of change a document sees: spends, grants, removals, refunds, expiries. */
  const commands: CreditAccountCommand[] = [
    { type: 'PurchaseCredits', accountId: A, occurredAt: T0, purchaseId: 'p-api', creditType: 'api', credits: 10_000, paid: true, amountMinor: 1000, currency: 'USD', invoiceId: 'inv-1' },
    { type: 'PurchaseCredits', accountId: A, occurredAt: T0 + MIN, purchaseId: 'p-co', creditType: 'company', credits: 50, paid: false, source: 'trial', expiresAt: T0 + 3 * DAY },
    { type: 'PurchaseCredits', accountId: A, occurredAt: T0 + MIN, purchaseId: 'p-refund', creditType: 'api', credits: 7, paid: true, amountMinor: 70, currency: 'USD' },
    { type: 'RefundPurchase', accountId: A, occurredAt: T0 + 2 * MIN, purchaseId: 'p-refund', reason: 'asked', refundedBy: 'admin' },
    { type: 'AdjustCredits', accountId: A, occurredAt: T0 + 2 * MIN, adjustmentId: 'adj-1', creditType: 'api', credits: 30, reason: 'goodwill', adjustedBy: 'admin' },
    { type: 'AdjustCredits', accountId: A, occurredAt: T0 + 3 * MIN, adjustmentId: 'adj-2', creditType: 'api', credits: -40, reason: 'correction', adjustedBy: 'admin' },
    ...Array.from({ length: 60 }, (_, i): CreditAccountCommand => {
      const occurredAt = T0 + 4 * MIN + i * 3 * MIN;
      switch (i % 5) {
        case 0:
          return { type: 'DispatchWebhook', accountId: A, occurredAt, webhookEventId: `e-${i}`, webhookId: `w-${i % 2}`, recordType: i % 10 ? 'job' : 'company' };
        case 1:
          return { type: 'RevealCompanies', accountId: A, occurredAt, requestId: `rv-${i}`, companyIds: [`c${i % 4}`, `c${(i + 1) % 7}`], action: i % 3 ? 'reveal' : 'export', allowPartial: false, ...(i % 2 ? { userId: 'u-ben' } : {}) };
        default:
          return {
            type: 'ChargeRecords', accountId: A, occurredAt, requestId: `r-${i}`, endpoint: i % 2 ? 'job_search' : 'company_search', records: 1 + (i % 9), allowPartial: false,
            ...(i % 3 ? { apiKeyId: `k-${i % 2}` } : {}), ...(i % 4 ? { userId: `u-${i % 3}` } : {}),
          };
      }
    }),
    { type: 'SweepExpiries', accountId: A, occurredAt: T0 + 4 * DAY },
  ];
  const events = history(A, commands);

  function deepFreeze<T>(value: T): T {
    if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const child of Object.values(value)) deepFreeze(child);
    }
    return value;
  }

  it('covers expiries, refunds and adjustments', () => {
    const types = new Set(events.map((e) => e.event.type));
    for (const type of ['PurchaseRefunded', 'CreditsAdjusted', 'CreditsExpired', 'RevealServedFree', 'WebhookDispatched'] as const) expect(types).toContain(type);
  });

  it('keeps in the balances only the lots with credits left, and every lot in the purchase history', () => {
    // The trial expired (its remainder recorded) and the refunded purchase went back.
    expect(docs(balancesProjection, events).get(A)!.lots.map((lot) => lot.purchaseId)).toEqual(['p-api', 'adjustment:adj-1']);
    const purchases = docs(purchasesProjection, events);
    expect([...purchases.keys()].sort()).toEqual(['p-api', 'p-co', 'p-refund', 'adjustment:adj-1'].map((id) => purchaseKey(A, id)).sort());
    expect(purchases.get(purchaseKey(A, 'p-refund'))).toMatchObject({ refunded: true, paid: true, amountMinor: 70, credits: 7 });
    expect(purchases.get(purchaseKey(A, 'adjustment:adj-1'))).toMatchObject({ source: 'adjustment', reason: 'goodwill', credits: 30, paid: false });
    expect(purchases.get(purchaseKey(A, 'p-api'))).toMatchObject({ invoiceId: 'inv-1', position: events[0]!.position.toString() });
    expect(purchases.get(purchaseKey(A, 'p-co'))!.refunded).toBeUndefined();
  });

  describe.each([
    ['balances', balancesProjection],
    ['usage', usageProjection],
  ] as const)('the %s projection', (_name, projection) => {
    const inPlace = projection as Projection<unknown>;

    it('gives the same documents as its pure evolve, which never changes the document it is given', () => {
      const pure = new Map<string, unknown>();
      for (const event of events) {
        for (const key of inPlace.keysOf(event)) pure.set(key, inPlace.evolve(deepFreeze(pure.get(key)), event, key));
      }
      expect(docs(inPlace, events)).toEqual(pure);
    });

    it('gives the same documents when half of them were read back from their rows', () => {
      const half = foldProjection(inPlace, events.slice(0, 30));
      const reread = new Map([...half].map(([key, stored]) => [key, stored && { doc: JSON.parse(JSON.stringify(stored.doc)) as unknown, position: stored.position }]));
      foldProjection(inPlace, events.slice(30), reread);
      expect(reread).toEqual(foldProjection(inPlace, events));
    });
  });
});
