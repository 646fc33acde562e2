import { fold, historyOf } from '../testing/decider-specification.js';
import {
  at,
  chargeRecords,
  creditsExpired,
  daysAfter,
  dispatchWebhook,
  paidLot,
  purchaseCredits,
  revealCompanies,
} from '../testing/credit-account.fixtures.js';
import type { Instant } from '../shared/time.js';
import { answer, type CreditAccountAnswer } from './credit-account.answers.js';
import type { CreditAccountCommand } from './credit-account.commands.js';
import { decide } from './credit-account.decider.js';
import type { CreditAccountEvent, RecordsReturned } from './credit-account.events.js';
import { balancesAt, evolve, initialState, InconsistentHistoryError } from './credit-account.state.js';

const T0 = at('2026-01-10T09:00:00.000Z');

/** A season of one team: purchases, searches, reveals, webhooks, a trial running out, retries. */
const season: CreditAccountCommand[] = [
  purchaseCredits({ purchaseId: 'trial-api', credits: 200, paid: false, source: 'trial', expiresAt: daysAfter(T0, 14), occurredAt: T0 }),
  purchaseCredits({ purchaseId: 'trial-ui', creditType: 'company', credits: 3, paid: false, source: 'trial', expiresAt: daysAfter(T0, 14), occurredAt: T0 }),
  chargeRecords({ requestId: 'q1', endpoint: 'job_search', records: 25, occurredAt: T0 + 60_000 }),
  chargeRecords({ requestId: 'q2', endpoint: 'company_search', records: 0, occurredAt: T0 + 120_000 }),
  revealCompanies({ requestId: 'v1', companyIds: ['stripe', 'notion'], userId: 'u-ana', occurredAt: T0 + 180_000 }),
  revealCompanies({ requestId: 'v2', companyIds: ['stripe', 'figma', 'linear'], allowPartial: true, userId: 'u-bob', occurredAt: T0 + 240_000 }),
  dispatchWebhook({ webhookEventId: 'e1', recordType: 'company', occurredAt: T0 + 300_000 }),
  chargeRecords({ requestId: 'q1', endpoint: 'job_search', records: 25, occurredAt: T0 + 360_000 }), // a retry
  purchaseCredits({ purchaseId: 'inv-1', credits: 1000, amountMinor: 4900, currency: 'USD', invoiceId: 'in_1', occurredAt: daysAfter(T0, 20) }),
  purchaseCredits({ purchaseId: 'pack-1', creditType: 'company', credits: 100, amountMinor: 9900, currency: 'USD', occurredAt: daysAfter(T0, 20) }),
  chargeRecords({ requestId: 'q3', endpoint: 'technographics', records: 7, apiKeyId: 'key-1', occurredAt: daysAfter(T0, 21) }),
  revealCompanies({ requestId: 'v3', companyIds: ['stripe', 'linear'], action: 'export', occurredAt: daysAfter(T0, 21) }),
  dispatchWebhook({ webhookEventId: 'e2', recordType: 'job', occurredAt: daysAfter(T0, 22) }),
  revealCompanies({ requestId: 'v4', companyIds: ['stripe'], occurredAt: daysAfter(T0, 95) }),
  chargeRecords({ requestId: 'q4', endpoint: 'company_search', records: 500, allowPartial: true, occurredAt: daysAfter(T0, 100) }),
  dispatchWebhook({ webhookEventId: 'e3', recordType: 'company', occurredAt: daysAfter(T0, 101) }),
  purchaseCredits({ purchaseId: 'inv-2', credits: 50, amountMinor: 500, currency: 'USD', occurredAt: daysAfter(T0, 102) }),
  dispatchWebhook({ webhookEventId: 'e3', recordType: 'company', occurredAt: daysAfter(T0, 102) + 1 }),
  chargeRecords({ requestId: 'q5', endpoint: 'job_search', records: 3, occurredAt: daysAfter(T0, 400) }),
];

interface Lived {
  readonly events: CreditAccountEvent[];
  readonly answers: Map<number, CreditAccountAnswer>;
  readonly state: ReturnType<typeof initialState>;
}

/** Decides and applies each command on one live state, as the write path does with its cache. */
function live(commands: readonly CreditAccountCommand[]): Lived {
  const state = initialState();
  const events: CreditAccountEvent[] = [];
  const answers = new Map<number, CreditAccountAnswer>();
  commands.forEach((command, i) => {
    const decision = decide(command, state);
    for (const event of decision.events) evolve(state, event);
    events.push(...decision.events);
    if (!decision.refusal && decision.events.length > 0) answers.set(i, answer(command, state));
  });
  return { events, answers, state };
}

describe('a replay rebuilds everything', () => {
  const lived = live(season);

  it('the season wrote what the rules say (a sanity check on the scenario itself)', () => {
    expect(lived.events.map((e) => e.type)).toEqual([
      'CreditsPurchased',
      'CreditsPurchased',
      'RecordsReturned',
      'CompanyRevealed',
      'CompanyRevealed',
      'CompanyRevealed', // v2: figma; linear not paid for (trial-ui ran out)
      'WebhookDispatched',
      'CreditsExpired', // trial-api's remainder, when inv-1 is bought 20 days in
      'CreditsPurchased',
      'CreditsPurchased',
      'RecordsReturned',
      'CompanyRevealed', // v3: linear (stripe is inside v1's window)
      'WebhookDispatched',
      'CompanyRevealed', // v4: stripe again after 95 days
      'RecordsReturned', // q4: partial
      'WebhookNotTriggered', // e3: inv-1 ran out
      'CreditsPurchased',
      'WebhookDispatched', // e3 once credits were bought
      'CreditsExpired', // pack-1's 98 unused company credits (inv-1 was spent to nothing; inv-2 still runs)
      'RecordsReturned', // q5, paid by inv-2
    ]);
  });

  it('folding the events from scratch gives the very same state as the live one', () => {
    expect(fold(lived.events)).toEqual(lived.state);
  });

  it('gives the same balances at any instant', () => {
    const replayed = fold(lived.events);
    const instants: Instant[] = [T0, daysAfter(T0, 14), daysAfter(T0, 100), daysAfter(T0, 367), daysAfter(T0, 500)];
    for (const instant of instants) expect(balancesAt(replayed, instant)).toEqual(balancesAt(lived.state, instant));
    expect(balancesAt(replayed, daysAfter(T0, 400))).toEqual({ api: { available: 44 }, company: { available: 0 } });
  });

  it('gives every accepted command the answer it got live', () => {
    const replayed = fold(lived.events);
    expect(lived.answers.size).toBe(16);
    for (const [i, original] of lived.answers) expect(answer(season[i]!, replayed)).toStrictEqual(original);
  });

  it('recognises every command that wrote events as already done', () => {
    const replayed = fold(lived.events);
    for (const i of lived.answers.keys()) expect(decide(season[i]!, replayed)).toEqual({ events: [] });
  });

  it('folding the same events twice into fresh states gives equal states', () => {
    expect(fold(lived.events)).toEqual(fold(lived.events));
  });
});

describe('evolve refuses a history the rules never produce', () => {
  const NOW = at('2026-03-01T10:00:00.000Z');
  const [purchase, charge] = historyOf(
    purchaseCredits({ purchaseId: 'lot-a', credits: 10, occurredAt: NOW }),
    chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 4, occurredAt: NOW }),
  ) as [CreditAccountEvent, RecordsReturned];

  function withAllocations(allocations: RecordsReturned['data']['allocations']): RecordsReturned {
    return { ...charge, data: { ...charge.data, allocations } };
  }

  it('a charge allocated to a lot never purchased', () => {
    expect(() => fold([purchase, withAllocations([{ purchaseId: 'ghost', credits: 4 }])])).toThrow(InconsistentHistoryError);
    expect(() => fold([purchase, withAllocations([{ purchaseId: 'ghost', credits: 4 }])])).toThrow('Unknown lot ghost');
  });

  it('a charge taking more than what is left of a lot', () => {
    expect(() => fold([purchase, withAllocations([{ purchaseId: 'lot-a', credits: 11 }])])).toThrow(InconsistentHistoryError);
    expect(() => fold([purchase, charge, withAllocations([{ purchaseId: 'lot-a', credits: 7 }])])).toThrow(
      'Allocation of 7 api credits from lot lot-a (api, 6 left)',
    );
  });

  it('a charge of API credits paid from a company lot', () => {
    expect(() => fold([paidLot('pack', 'company', 10, NOW), withAllocations([{ purchaseId: 'pack', credits: 4 }])])).toThrow(
      InconsistentHistoryError,
    );
  });

  it('an expiry of more than what is left of a lot', () => {
    expect(() => fold([purchase, charge, creditsExpired('lot-a', 'api', 7, true, NOW)])).toThrow(InconsistentHistoryError);
  });

  it('an expiry of a lot never purchased', () => {
    expect(() => fold([creditsExpired('ghost', 'api', 1, true, NOW)])).toThrow(InconsistentHistoryError);
  });

  it('but accepts the history as written', () => {
    expect(balancesAt(fold([purchase, charge]), NOW)).toEqual({ api: { available: 6 }, company: { available: 0 } });
  });
});
