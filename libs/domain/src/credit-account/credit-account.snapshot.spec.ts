import {
  at,
  chargeRecords,
  daysAfter,
  dispatchWebhook,
  purchaseCredits,
  revealCompanies,
  ACCOUNT,
} from '../testing/credit-account.fixtures.js';
import { answer } from './credit-account.answers.js';
import type { CreditAccountCommand } from './credit-account.commands.js';
import { decide } from './credit-account.decider.js';
import type { CreditAccountEvent } from './credit-account.events.js';
import {
  CREDIT_ACCOUNT_SNAPSHOT_VERSION,
  idempotencyKeysRead,
  snapshotOf,
  companiesRead,
  stateFromSnapshot,
  type CompanyWindows,
  type CreditAccountSnapshot,
} from './credit-account.snapshot.js';
import { evolve, initialState, type CreditAccountState, type IdempotencyEntry } from './credit-account.state.js';
import type { RevealWindow } from '../reveal-windows/reveal-window.js';
import { entryOfText, entryText } from './idempotency-entries.js';

const T0 = at('2026-01-10T09:00:00.000Z');

/** A year of one team touching every rule that leaves state behind, with retries and reused keys. */
const year: CreditAccountCommand[] = [
  purchaseCredits({ purchaseId: 'trial-api', credits: 200, paid: false, source: 'trial', expiresAt: daysAfter(T0, 14), occurredAt: T0 }),
  purchaseCredits({ purchaseId: 'trial-co', creditType: 'company', credits: 3, paid: false, source: 'trial', expiresAt: daysAfter(T0, 14), occurredAt: T0 }),
  { type: 'SetAutoRechargeRule', accountId: ACCOUNT, creditType: 'api', threshold: 50, credits: 500, monthlyCap: 2, enabled: true, setBy: 'admin', occurredAt: T0 + 1 },
  { type: 'SetBalanceAlerts', accountId: ACCOUNT, creditType: 'api', consumedPercents: [50, 90], availableBelow: 20, setBy: 'admin', occurredAt: T0 + 2 },
  chargeRecords({ requestId: 'q1', endpoint: 'job_search', records: 120, occurredAt: T0 + 60_000 }),
  revealCompanies({ requestId: 'v1', companyIds: ['stripe', 'notion'], userId: 'u-ana', occurredAt: T0 + 120_000 }),
  revealCompanies({ requestId: 'v2', companyIds: ['stripe', 'figma', 'linear'], allowPartial: true, occurredAt: T0 + 180_000 }),
  dispatchWebhook({ webhookEventId: 'e1', recordType: 'company', occurredAt: T0 + 240_000 }),
  chargeRecords({ requestId: 'q2', endpoint: 'company_search', records: 40, allowPartial: true, occurredAt: T0 + 300_000 }),
  dispatchWebhook({ webhookEventId: 'e2', recordType: 'company', occurredAt: T0 + 360_000 }),
  { type: 'FailAutoRecharge', accountId: ACCOUNT, autoRechargeId: 'ar-api-1', reason: 'card declined', occurredAt: T0 + 400_000 },
  purchaseCredits({ purchaseId: 'inv-1', credits: 1000, amountMinor: 4900, currency: 'USD', invoiceId: 'in_1', occurredAt: daysAfter(T0, 20) }),
  purchaseCredits({ purchaseId: 'pack-1', creditType: 'company', credits: 100, amountMinor: 9900, currency: 'USD', occurredAt: daysAfter(T0, 20) }),
  purchaseCredits({ purchaseId: 'inv-2', credits: 300, amountMinor: 900, currency: 'USD', occurredAt: daysAfter(T0, 21) }),
  dispatchWebhook({ webhookEventId: 'e2', recordType: 'company', occurredAt: daysAfter(T0, 21) + 1 }), // refused before, paid now
  { type: 'RefundPurchase', accountId: ACCOUNT, purchaseId: 'inv-2', refundedBy: 'admin', occurredAt: daysAfter(T0, 22) },
  { type: 'AdjustCredits', accountId: ACCOUNT, adjustmentId: 'adj-1', creditType: 'api', credits: 25, reason: 'goodwill', adjustedBy: 'admin', expiresAt: daysAfter(T0, 200), occurredAt: daysAfter(T0, 23) },
  chargeRecords({ requestId: 'q3', endpoint: 'technographics', records: 7, apiKeyId: 'key-1', occurredAt: daysAfter(T0, 24) }),
  revealCompanies({ requestId: 'v3', companyIds: ['stripe', 'linear'], action: 'export', occurredAt: daysAfter(T0, 25) }),
  revealCompanies({ requestId: 'v4', companyIds: ['stripe'], occurredAt: daysAfter(T0, 95) }),
  chargeRecords({ requestId: 'q4', endpoint: 'job_search', records: 900, allowPartial: true, occurredAt: daysAfter(T0, 100) }),
  // Retries of every earlier key, one reuse with another payload, and a refund already made.
  chargeRecords({ requestId: 'q1', endpoint: 'job_search', records: 120, occurredAt: daysAfter(T0, 101) }),
  chargeRecords({ requestId: 'q1', endpoint: 'job_search', records: 121, occurredAt: daysAfter(T0, 101) }),
  revealCompanies({ requestId: 'v2', companyIds: ['stripe', 'figma', 'linear'], allowPartial: true, occurredAt: daysAfter(T0, 101) }),
  dispatchWebhook({ webhookEventId: 'e1', recordType: 'company', occurredAt: daysAfter(T0, 101) }),
  dispatchWebhook({ webhookEventId: 'e2', recordType: 'company', occurredAt: daysAfter(T0, 101) }),
  purchaseCredits({ purchaseId: 'trial-api', credits: 200, paid: false, source: 'trial', expiresAt: daysAfter(T0, 14), occurredAt: daysAfter(T0, 101) }),
  { type: 'RefundPurchase', accountId: ACCOUNT, purchaseId: 'inv-2', refundedBy: 'admin', occurredAt: daysAfter(T0, 101) },
  { type: 'RefundPurchase', accountId: ACCOUNT, purchaseId: 'inv-1', refundedBy: 'admin', occurredAt: daysAfter(T0, 101) },
  { type: 'SweepExpiries', accountId: ACCOUNT, occurredAt: daysAfter(T0, 390) },
  chargeRecords({ requestId: 'q5', endpoint: 'job_search', records: 3, occurredAt: daysAfter(T0, 400) }),
];

interface Outcome {
  readonly events: readonly CreditAccountEvent[];
  readonly refusal: unknown;
  readonly answer: unknown;
}

/** Decides one command the way the write path does, keeping the state. */
function step(state: CreditAccountState, command: CreditAccountCommand): Outcome {
  const decision = decide(command, state);
  for (const event of decision.events) evolve(state, event);
  const accepted = !decision.refusal && (decision.events.length > 0 || command.type !== 'ChargeRecords' || command.records === 0);
  return {
    events: decision.events,
    refusal: decision.refusal ? { code: decision.refusal.code, details: decision.refusal.details } : undefined,
    answer: accepted ? answer(command, state, decision.events) : undefined,
  };
}

/** A snapshot as it comes back from storage: through its stored text, idempotency entries and reveal windows kept apart. */
function stored(state: CreditAccountState): { snapshot: CreditAccountSnapshot; keys: Map<string, IdempotencyEntry>; windows: CompanyWindows } {
  const snapshot = JSON.parse(JSON.stringify(snapshotOf(state))) as CreditAccountSnapshot;
  const keys = new Map([...state.idempotency].map(([key, entry]) => [key, entryOfText(entryText(entry))]));
  const windows = [...state.windows].map(([companyId, companyWindows]) => [companyId, JSON.parse(JSON.stringify(companyWindows)) as RevealWindow[]] as const);
  return { snapshot, keys, windows };
}

describe('an account state restored from a snapshot', () => {
  // Every prefix of the year: a snapshot after command k, then the rest of the year decided on it.
  for (let k = 0; k <= year.length; k++) {
    it(`decides the rest exactly as a full replay does, when the snapshot was taken after command ${k}`, () => {
      const replayed = initialState();
      const history: CreditAccountEvent[] = [];
      for (const command of year.slice(0, k)) history.push(...step(replayed, command).events);

      // The full replay: a fresh state folded from every event.
      const folded = initialState();
      for (const event of history) evolve(folded, event);

      const { snapshot, keys, windows } = stored(folded);
      const storedWindows = new Map(windows);
      const restored = stateFromSnapshot(snapshot);
      for (const command of year.slice(k)) {
        // What the write path does before deciding: fetch the entries the command reads, and the windows
        // of the companies it names, that are not in memory.
        for (const key of idempotencyKeysRead(command)) {
          const entry = keys.get(key);
          if (entry && !restored.idempotency.has(key)) restored.idempotency.set(key, entry);
        }
        for (const companyId of companiesRead(command)) {
          const companyWindows = storedWindows.get(companyId);
          if (companyWindows && !restored.windows.has(companyId)) restored.windows.set(companyId, [...companyWindows]);
        }
        expect(step(restored, command)).toStrictEqual(step(folded, command));
      }
    });
  }

  it('the year itself writes, refuses and retries what it is meant to (a sanity check on the scenario)', () => {
    const state = initialState();
    const outcomes = year.map((command) => step(state, command));
    const types = new Set(outcomes.flatMap((o) => o.events.map((e) => e.type)));
    for (const type of ['CreditsPurchased', 'RecordsReturned', 'CompanyRevealed', 'WebhookDispatched', 'WebhookNotTriggered', 'AutoRechargeRequested', 'AutoRechargeFailed', 'BalanceAlertRaised', 'PurchaseRefunded', 'CreditsAdjusted', 'CreditsExpired']) {
      expect(types).toContain(type);
    }
    expect(outcomes.filter((o) => o.refusal !== undefined).length).toBeGreaterThanOrEqual(3);
  });

  it('holds the same state, idempotency entries apart, as the one it was taken from', () => {
    const state = initialState();
    for (const command of year) step(state, command);
    const { snapshot, windows } = stored(state);
    expect(state.windows.size).toBeGreaterThan(0);
    // The windows are kept apart, one row per company: a snapshot costs what changed, not every reveal.
    expect(snapshot).not.toHaveProperty('windows');
    const restored = stateFromSnapshot(snapshot);
    for (const [companyId, companyWindows] of windows) restored.windows.set(companyId, [...companyWindows]);
    expect({ ...restored, idempotency: undefined }).toEqual({ ...state, idempotency: undefined });
    expect(restored.spendable.api.every((lot) => restored.lots.get(lot.purchaseId) === lot)).toBe(true);
  });

  it('is versioned, so a changed state shape or evolve can ignore older snapshots', () => {
    expect(Number.isInteger(CREDIT_ACCOUNT_SNAPSHOT_VERSION)).toBe(true);
  });
});

describe('an idempotency entry as the snapshot store keeps it', () => {
  const state = initialState();
  for (const command of year) step(state, command);
  const entries = [...state.idempotency].map(([, entry]) => entry);

  it('comes back as it was, whatever its kind', () => {
    expect(new Set(entries.map((entry) => entry.kind))).toEqual(new Set(['purchase', 'records', 'reveal', 'webhook', 'refund', 'adjustment', 'auto-recharge-failure']));
    for (const entry of entries) expect(entryOfText(entryText(entry))).toStrictEqual(entry);
  });

  it('is a short line of fields for a charge and a webhook, and JSON for the rest', () => {
    const charge = state.idempotency.get('request:q1');
    if (charge?.kind !== 'records') throw new Error('q1 charged records');
    expect(entryText(charge)).toBe(`r120,1,120,${charge.apiAvailable},${charge.companyAvailable},${charge.fingerprint}`);
    expect(entryText(state.idempotency.get('webhook:e1')!)).toMatch(/^wd3,\d+,\d+,v1:/);
    expect(entryOfText('wn0,0,7,v1:abc')).toEqual({ kind: 'webhook', status: 'not_triggered', creditsCharged: 0, apiAvailable: 0, companyAvailable: 7, fingerprint: 'v1:abc' });
    for (const entry of entries.filter((e) => e.kind !== 'records' && e.kind !== 'webhook')) expect(entryText(entry)).toBe(JSON.stringify(entry));
  });

  it('keeps a fingerprint as it is, commas and all', () => {
    const entry: IdempotencyEntry = { kind: 'records', fingerprint: 'v9:a,b,,c', recordsBilled: 0, unitPrice: 3, creditsCharged: 0, apiAvailable: 12, companyAvailable: 0 };
    expect(entryOfText(entryText(entry))).toStrictEqual(entry);
  });

  it.each(['', 'x', 'r1,2,3', 'r1,2,3,4,5', 'r-,2,3,4,5,v1:f', 'r 1,2,3,4,5,v1:f', 'r1,2,3,4,+5,v1:f', 'r1,2,3,4,5x,v1:f', 'r1,2,x,4,5,v1:f', 'r1,2,3.5,4,5,v1:f', 'r1,2,,4,5,v1:f', 'r1,2,3,4,99999999999999999,v1:f', 'wq1,2,3,v1:f', 'wd1,2,v1:f', '[1]'])(
    'refuses %j, which it cannot have written',
    (text) => {
      expect(() => entryOfText(text)).toThrow(/Not a stored idempotency entry|JSON/);
    },
  );
});
