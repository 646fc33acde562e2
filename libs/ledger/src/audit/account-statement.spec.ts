import {
  balancesAt,
  decide,
  evolve,
  InconsistentHistoryError,
  initialState,
  instantOf,
  occurredAtOf,
  type CreditAccountCommand,
  type CreditAccountEvent,
} from '#domain';
import {
  ACCOUNT,
  at,
  chargeRecords,
  creditsExpired,
  dispatchWebhook,
  grantLot,
  paidLot,
  purchaseCredits,
  revealCompanies,
} from '../../../domain/src/testing/credit-account.fixtures.js';
import { historyOf } from '../../../domain/src/testing/decider-specification.js';
import { accountStatement, AccountStatementFold, type AccountStatement } from './account-statement.js';

const JAN_1 = at('2026-01-01T00:00:00.000Z');
const FEB_1 = at('2026-02-01T00:00:00.000Z');
const FEB_10 = at('2026-02-10T00:00:00.000Z');
const MAR_1 = at('2026-03-01T00:00:00.000Z');
const APR_1 = at('2026-04-01T00:00:00.000Z');
const HOUR = 3_600_000;

const FEBRUARY = { from: FEB_1, to: MAR_1 };

function sumOf(statement: AccountStatement, creditType: 'api' | 'company'): number {
  return statement.movements.filter((m) => m.creditType === creditType).reduce((sum, m) => sum + m.credits, 0);
}

/** opening + Σ movements = closing, per credit type, and every balanceAfter is the running balance. */
function expectConsistent(statement: AccountStatement): void {
  const running = { ...statement.opening };
  for (const movement of statement.movements) {
    running[movement.creditType] += movement.credits;
    expect(movement.balanceAfter).toBe(running[movement.creditType]);
    expect(movement.balanceAfter).toBeGreaterThanOrEqual(0);
  }
  expect(running).toEqual(statement.closing);
  expect(statement.opening.api + sumOf(statement, 'api')).toBe(statement.closing.api);
  expect(statement.opening.company + sumOf(statement, 'company')).toBe(statement.closing.company);
}

/** The domain's own balance as of an instant: the account folded up to it, counting lots unexpired then. */
function domainBalances(events: readonly CreditAccountEvent[], instant: number) {
  const state = initialState();
  for (const event of events) {
    if (instantOf(occurredAtOf(event)) > instant) break;
    evolve(state, event);
  }
  const balances = balancesAt(state, instant);
  return { api: balances.api.available, company: balances.company.available };
}

describe('an account statement', () => {
  describe('when the lot was bought before the period and charged during it', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'p-jan', credits: 100, invoiceId: 'inv-1', occurredAt: JAN_1 }),
      chargeRecords({ requestId: 'r-jan', endpoint: 'job_search', records: 10, occurredAt: JAN_1 + HOUR }),
      chargeRecords({ requestId: 'r-feb', endpoint: 'company_search', records: 4, occurredAt: FEB_10 }),
      chargeRecords({ requestId: 'r-mar', endpoint: 'job_search', records: 1, occurredAt: MAR_1 + HOUR }),
    );
    const statement = accountStatement(ACCOUNT, FEBRUARY, history);

    it('opens with what the purchase left before the period', () => {
      expect(statement.opening).toEqual({ api: 90, company: 0 });
    });

    it('lists only the movements inside the period, traced to the lot and its invoice', () => {
      expect(statement.movements).toEqual([
        {
          occurredAt: '2026-02-10T00:00:00.000Z',
          type: 'charge',
          event: 'RecordsReturned',
          revision: null,
          creditType: 'api',
          credits: -12,
          balanceAfter: 78,
          requestId: 'r-feb',
          allocations: [{ purchaseId: 'p-jan', credits: 12, invoiceId: 'inv-1' }],
        },
      ]);
    });

    it('closes with the balance as of the end of the period', () => {
      expect(statement.closing).toEqual({ api: 78, company: 0 });
      expect(statement.closing).toEqual(domainBalances(history, MAR_1));
      expect(statement.opening).toEqual(domainBalances(history, FEB_1));
      expectConsistent(statement);
    });

    it('names its period as instants', () => {
      expect(statement).toMatchObject({ accountId: ACCOUNT, from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' });
    });
  });

  describe('when a charge draws from two lots', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'trial', credits: 5, paid: false, source: 'trial', expiresAt: APR_1, occurredAt: FEB_1 + HOUR }),
      purchaseCredits({ purchaseId: 'paid', credits: 50, invoiceId: 'inv-9', occurredAt: FEB_1 + 2 * HOUR }),
      chargeRecords({ requestId: 'r', endpoint: 'technographics', records: 3, occurredAt: FEB_10 }),
    );
    const statement = accountStatement(ACCOUNT, FEBRUARY, history);

    it('shows both purchases and one charge with both allocations, in spending order', () => {
      expect(statement.opening).toEqual({ api: 0, company: 0 });
      expect(statement.movements.map((m) => [m.type, m.credits, m.balanceAfter])).toEqual([
        ['purchase', 5, 5],
        ['purchase', 50, 55],
        ['charge', -9, 46],
      ]);
      expect(statement.movements[2]!.allocations).toEqual([
        { purchaseId: 'trial', credits: 5 },
        { purchaseId: 'paid', credits: 4, invoiceId: 'inv-9' },
      ]);
      expect(statement.movements[1]).toMatchObject({ event: 'CreditsPurchased', purchaseId: 'paid', invoiceId: 'inv-9' });
      expectConsistent(statement);
    });
  });

  describe('when a lot expires inside the period and nothing happens on the account afterwards', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'paid', credits: 100, occurredAt: JAN_1 }),
      purchaseCredits({ purchaseId: 'trial', credits: 40, paid: false, source: 'trial', expiresAt: FEB_10, occurredAt: JAN_1 }),
      chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 15, occurredAt: FEB_1 + HOUR }),
    );
    const statement = accountStatement(ACCOUNT, FEBRUARY, history);

    it('the lot stops counting at its expiry instant, though CreditsExpired was never recorded', () => {
      expect(history.some((e) => e.type === 'CreditsExpired')).toBe(false);
      expect(statement.opening).toEqual({ api: 140, company: 0 });
      expect(statement.movements).toEqual([
        expect.objectContaining({ type: 'charge', credits: -15, balanceAfter: 125 }),
        {
          occurredAt: '2026-02-10T00:00:00.000Z',
          type: 'expiry',
          event: null,
          revision: null,
          creditType: 'api',
          credits: -25,
          balanceAfter: 100,
          purchaseId: 'trial',
        },
      ]);
      expect(statement.closing).toEqual({ api: 100, company: 0 });
      expect(statement.closing).toEqual(domainBalances(history, MAR_1));
      expectConsistent(statement);
    });
  });

  describe('when the ledger recorded the expiry (the account acted again after it)', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'paid', credits: 100, occurredAt: JAN_1 }),
      purchaseCredits({ purchaseId: 'trial', credits: 40, paid: false, source: 'trial', expiresAt: FEB_10, occurredAt: JAN_1 }),
      chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 15, occurredAt: FEB_1 + HOUR }),
      chargeRecords({ requestId: 'r2', endpoint: 'job_search', records: 1, occurredAt: FEB_10 + 5 * HOUR }),
    );
    const inputs = history.map((event, revision) => ({ event, revision: BigInt(revision) }));
    const statement = accountStatement(ACCOUNT, FEBRUARY, inputs);

    it('shows one expiry, tied to the CreditsExpired event, and counts it once', () => {
      const expiredAt = history.findIndex((e) => e.type === 'CreditsExpired');
      expect(history[expiredAt]).toEqual(creditsExpired('trial', 'api', 25, false, FEB_10));
      const expiries = statement.movements.filter((m) => m.type === 'expiry');
      expect(expiries).toEqual([
        expect.objectContaining({ credits: -25, event: 'CreditsExpired', revision: String(expiredAt), purchaseId: 'trial' }),
      ]);
      expect(statement.movements.map((m) => m.credits)).toEqual([-15, -25, -1]);
      expect(statement.closing).toEqual({ api: 99, company: 0 });
      expect(statement.closing).toEqual(domainBalances(history, MAR_1));
      expectConsistent(statement);
    });
  });

  describe('at the edges of the period', () => {
    const history = [
      paidLot('paid', 'api', 10, JAN_1),
      grantLot('at-from', 'api', 7, JAN_1, FEB_1),
      grantLot('at-to', 'company', 3, JAN_1, MAR_1),
    ];
    const statement = accountStatement(ACCOUNT, FEBRUARY, history);

    it('a lot expiring exactly at `from` is not in the opening; one expiring exactly at `to` is a movement', () => {
      expect(statement.opening).toEqual({ api: 10, company: 3 });
      expect(statement.movements).toEqual([
        expect.objectContaining({ type: 'expiry', occurredAt: '2026-03-01T00:00:00.000Z', creditType: 'company', credits: -3, balanceAfter: 0 }),
      ]);
      expect(statement.closing).toEqual({ api: 10, company: 0 });
      expect(statement.opening).toEqual(domainBalances(history, FEB_1));
      expect(statement.closing).toEqual(domainBalances(history, MAR_1));
    });

    it('an event exactly at `from` is in the opening, one exactly at `to` is a movement', () => {
      const edges = historyOf(
        purchaseCredits({ purchaseId: 'a', credits: 10, occurredAt: FEB_1 }),
        purchaseCredits({ purchaseId: 'b', credits: 20, occurredAt: MAR_1 }),
      );
      const s = accountStatement(ACCOUNT, FEBRUARY, edges);
      expect(s.opening.api).toBe(10);
      expect(s.movements.map((m) => m.purchaseId)).toEqual(['b']);
      expect(s.closing.api).toBe(30);
    });
  });

  describe('when a lot expired before the period', () => {
    it('is in neither balance and not a movement, recorded or not', () => {
      const unrecorded = [paidLot('paid', 'api', 10, JAN_1), grantLot('old', 'api', 7, JAN_1, JAN_1 + 10 * HOUR)];
      const recorded = historyOf(
        purchaseCredits({ purchaseId: 'paid', credits: 10, occurredAt: JAN_1 }),
        purchaseCredits({ purchaseId: 'old', credits: 7, paid: false, expiresAt: JAN_1 + 10 * HOUR, occurredAt: JAN_1 }),
        chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 1, occurredAt: JAN_1 + 20 * HOUR }),
      );
      for (const history of [unrecorded, recorded]) {
        const s = accountStatement(ACCOUNT, FEBRUARY, history);
        expect(s.movements).toEqual([]);
        expect(s.opening).toEqual(s.closing);
        expect(s.opening).toEqual(domainBalances(history, FEB_1));
      }
    });
  });

  describe('requests that moved no credits', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'co', creditType: 'company', credits: 1, occurredAt: JAN_1 }),
      revealCompanies({ requestId: 'r1', companyIds: ['c1'], occurredAt: FEB_1 + HOUR }),
      revealCompanies({ requestId: 'r2', companyIds: ['c1'], occurredAt: FEB_1 + 2 * HOUR }),
      dispatchWebhook({ webhookEventId: 'w1', recordType: 'job', occurredAt: FEB_1 + 3 * HOUR }),
    );

    it('are not movements: a reveal served free, a webhook not triggered', () => {
      expect(history.map((e) => e.type)).toEqual(['CreditsPurchased', 'CompanyRevealed', 'RevealServedFree', 'WebhookNotTriggered']);
      const s = accountStatement(ACCOUNT, FEBRUARY, history);
      expect(s.movements).toEqual([
        expect.objectContaining({ type: 'charge', event: 'CompanyRevealed', companyId: 'c1', requestId: 'r1', credits: -1, balanceAfter: 0 }),
      ]);
      expect(s.closing).toEqual({ api: 0, company: 0 });
    });
  });

  describe('whatever the history (generated)', () => {
    /** A small deterministic generator: the same seed always gives the same history. */
    function random(seed: number) {
      let x = seed;
      return (n: number) => {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
        return x % n;
      };
    }

    function generatedHistory(seed: number): CreditAccountEvent[] {
      const next = random(seed);
      const state = initialState();
      const events: CreditAccountEvent[] = [];
      let t = JAN_1;
      for (let i = 0; i < 120; i += 1) {
        t += (1 + next(36)) * HOUR;
        let command: CreditAccountCommand;
        const pick = next(10);
        if (pick < 2) {
          const paid = next(2) === 0;
          command = purchaseCredits({
            purchaseId: `p-${i}`,
            creditType: next(3) === 0 ? 'company' : 'api',
            credits: 1 + next(40),
            occurredAt: t,
            ...(paid ? {} : { paid: false, source: 'grant' as const, expiresAt: t + (1 + next(20)) * 24 * HOUR }),
          });
        } else if (pick < 5) {
          command = revealCompanies({ requestId: `r-${i}`, companyIds: [`c-${next(8)}`, `c-${next(8)}`], allowPartial: true, occurredAt: t });
        } else if (pick < 9) {
          command = chargeRecords({ requestId: `q-${i}`, endpoint: next(2) ? 'job_search' : 'company_search', records: 1 + next(6), allowPartial: true, occurredAt: t });
        } else {
          command = dispatchWebhook({ webhookEventId: `w-${i}`, recordType: next(2) ? 'job' : 'company', occurredAt: t });
        }
        const decision = decide(command, state);
        for (const event of decision.events) {
          evolve(state, event);
          events.push(event);
        }
      }
      return events;
    }

    it.each([1, 2, 3, 4, 5, 6, 7, 8])('agrees with the domain balances and adds up (seed %i)', (seed) => {
      const history = generatedHistory(seed);
      expect(history.filter((e) => e.type === 'CreditsExpired').length + history.filter((e) => e.type === 'RecordsReturned').length).toBeGreaterThan(0);
      const last = instantOf(occurredAtOf(history[history.length - 1]!));
      const boundaries = [JAN_1, JAN_1 + 7 * 24 * HOUR, FEB_1, FEB_10 + 7 * HOUR, MAR_1, last - 3 * 24 * HOUR, last + 30 * 24 * HOUR];
      for (let i = 0; i + 1 < boundaries.length; i += 1) {
        const period = { from: boundaries[i]!, to: boundaries[i + 1]! };
        const s = accountStatement(ACCOUNT, period, history);
        expect(s.opening).toEqual(domainBalances(history, period.from));
        expect(s.closing).toEqual(domainBalances(history, period.to));
        expectConsistent(s);
        const times = s.movements.map((m) => instantOf(m.occurredAt));
        expect(times).toEqual([...times].sort((a, b) => a - b));
      }
    });
  });

  describe('a history the rules never produce', () => {
    it('is refused, not papered over: a charge from a lot that cannot pay it', () => {
      const charge = historyOf(
        purchaseCredits({ purchaseId: 'p', credits: 100, occurredAt: JAN_1 }),
        chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 5, occurredAt: FEB_10 }),
      )[1]!;
      expect(() => accountStatement(ACCOUNT, FEBRUARY, [paidLot('p', 'api', 4, JAN_1), charge])).toThrow(InconsistentHistoryError);
      expect(() => accountStatement(ACCOUNT, FEBRUARY, [charge])).toThrow(InconsistentHistoryError);
    });

    it('is refused: a CreditsExpired that does not match what the lot held', () => {
      const history = [grantLot('g', 'api', 7, JAN_1, FEB_10), creditsExpired('g', 'api', 6, false, FEB_10)];
      expect(() => accountStatement(ACCOUNT, FEBRUARY, history)).toThrow(InconsistentHistoryError);
    });

    it('is refused: time going backwards within the account', () => {
      expect(() => accountStatement(ACCOUNT, FEBRUARY, [paidLot('b', 'api', 1, FEB_10), paidLot('a', 'api', 1, FEB_1)])).toThrow(
        InconsistentHistoryError,
      );
    });
  });

  it('ignores events after the period, so a reader may stop at the first one', () => {
    const fold = new AccountStatementFold(ACCOUNT, FEBRUARY);
    fold.add({ event: paidLot('p', 'api', 5, JAN_1) });
    fold.add({ event: paidLot('q', 'api', 5, APR_1) });
    expect(fold.finish()).toMatchObject({ opening: { api: 5 }, movements: [], closing: { api: 5 } });
  });

  it('refuses a period that ends before it starts', () => {
    expect(() => new AccountStatementFold(ACCOUNT, { from: MAR_1, to: FEB_1 })).toThrow(RangeError);
  });
});
