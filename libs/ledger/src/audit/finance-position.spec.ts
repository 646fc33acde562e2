import {
  decide,
  evolve,
  InconsistentHistoryError,
  initialState,
  instantOf,
  isUsableAt,
  occurredAtOf,
  type CreditAccountCommand,
  type CreditAccountEvent,
} from '#domain';
import {
  at,
  chargeRecords,
  dispatchWebhook,
  paidLot,
  purchaseCredits,
  revealCompanies,
} from '../../../domain/src/testing/credit-account.fixtures.js';
import { historyOf } from '../../../domain/src/testing/decider-specification.js';
import { breakageCsv, liabilityCsv } from './finance-position-csv.js';
import { FinancePositionFold, proratedValueMinor } from './finance-position.js';

const JAN_1 = at('2026-01-01T00:00:00.000Z');
const FEB_1 = at('2026-02-01T00:00:00.000Z');
const MAR_1 = at('2026-03-01T00:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function fold(asOf: number, ...events: readonly CreditAccountEvent[]): FinancePositionFold {
  const position = new FinancePositionFold(asOf);
  for (const event of events) position.add(event);
  return position;
}

/** Rewrites the fixtures' account, so that several accounts can share one ledger. */
function forAccount(accountId: string, commands: CreditAccountCommand[]): CreditAccountCommand[] {
  return commands.map((command) => ({ ...command, accountId }));
}

describe('the value of part of a lot', () => {
  it.each([
    [1000, 1, 3, 333], // 333.33… rounds down
    [1000, 2, 3, 667], // 666.67… rounds up
    [1, 1, 2, 1], // a half rounds up
    [3, 1, 2, 2], // 1.5 rounds up
    [5, 1, 4, 1], // 1.25 rounds down
    [999, 0, 10, 0],
    [999, 10, 10, 999],
    [0, 5, 10, 0],
  ])('%i minor units × %i / %i = %i', (amount, part, whole, value) => {
    expect(proratedValueMinor(amount, part, whole)).toBe(value);
  });

  it('is exact where amount × part is far beyond 2^53', () => {
    const [amount, part, whole] = [4_503_599_627_370_497, 999_999_999, 1_000_000_000];
    // 4503599627370497 × 0.999999999 = 4503599622866897.372…
    expect(proratedValueMinor(amount, part, whole)).toBe(4_503_599_622_866_897);
    // Floating point is one minor unit off here: it is why the arithmetic is done in bigints.
    expect(Math.round((amount * part) / whole)).toBe(4_503_599_622_866_898);
    expect(proratedValueMinor(Number.MAX_SAFE_INTEGER, 1, 1)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses what is not a part of a lot', () => {
    expect(() => proratedValueMinor(100, 11, 10)).toThrow(RangeError);
    expect(() => proratedValueMinor(100, 1, 0)).toThrow(RangeError);
    expect(() => proratedValueMinor(100.5, 1, 2)).toThrow(RangeError);
    expect(() => proratedValueMinor(-1, 1, 2)).toThrow(RangeError);
  });
});

describe('the liability and the breakage', () => {
  describe('of one account with paid and unpaid lots', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'trial', credits: 100, paid: false, source: 'trial', expiresAt: JAN_1 + 30 * DAY, occurredAt: JAN_1 }),
      purchaseCredits({ purchaseId: 'pack', credits: 300, amountMinor: 1000, currency: 'USD', invoiceId: 'inv-1', occurredAt: JAN_1 + HOUR }),
      // 130 credits: the trial pays 100 (it expires first), the pack 30.
      chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 130, occurredAt: JAN_1 + 2 * HOUR }),
      chargeRecords({ requestId: 'r2', endpoint: 'company_search', records: 10, occurredAt: FEB_1 + HOUR }),
    );

    it('counts only paid credits still outstanding, valued pro rata', () => {
      const report = fold(FEB_1, ...history).liability();
      expect(report).toEqual({
        asOf: '2026-02-01T00:00:00.000Z',
        lots: [
          {
            accountId: 'acme',
            purchaseId: 'pack',
            creditType: 'api',
            credits: 300,
            remaining: 270,
            purchasedAt: '2026-01-01T01:00:00.000Z',
            expiresAt: '2027-01-01T01:00:00.000Z',
            amountMinor: 1000,
            currency: 'USD',
            invoiceId: 'inv-1',
            remainingValueMinor: 900,
          },
        ],
        totals: {
          byCurrency: [{ currency: 'USD', lots: 1, remainingValueMinor: 900 }],
          byCurrencyAndCreditType: [{ currency: 'USD', creditType: 'api', lots: 1, remaining: 270, remainingValueMinor: 900 }],
        },
      });
    });

    it('takes off the charges made up to the instant, not those after', () => {
      expect(fold(FEB_1 + HOUR - 1, ...history).liability().lots[0]!.remaining).toBe(270);
      expect(fold(FEB_1 + HOUR, ...history).liability().lots[0]).toMatchObject({ remaining: 240, remainingValueMinor: 800 });
    });

    it('has no breakage from an unpaid lot, and nothing before the purchase', () => {
      expect(fold(MAR_1, ...history).breakage().lots).toEqual([]);
      expect(fold(JAN_1 + HOUR - 1, ...history).liability().lots).toEqual([]);
    });
  });

  describe('when a paid lot expires with credits left', () => {
    const bought = JAN_1;
    const expiry = at('2027-01-01T00:00:00.000Z');
    const history = historyOf(
      purchaseCredits({ purchaseId: 'old', credits: 90, amountMinor: 1000, currency: 'EUR', occurredAt: bought }),
      chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 30, occurredAt: bought + DAY }),
    );
    const recorded = historyOf(
      purchaseCredits({ purchaseId: 'old', credits: 90, amountMinor: 1000, currency: 'EUR', occurredAt: bought }),
      chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 30, occurredAt: bought + DAY }),
      purchaseCredits({ purchaseId: 'new', credits: 10, amountMinor: 100, currency: 'EUR', occurredAt: expiry + DAY }),
    );

    it('is a liability until just before its expiry instant, and breakage from it', () => {
      expect(fold(expiry - 1, ...history).liability().lots).toEqual([expect.objectContaining({ purchaseId: 'old', remaining: 60, remainingValueMinor: 667 })]);
      expect(fold(expiry - 1, ...history).breakage().lots).toEqual([]);
      expect(fold(expiry, ...history).liability().lots).toEqual([]);
      expect(fold(expiry, ...history).breakage()).toEqual({
        asOf: '2027-01-01T00:00:00.000Z',
        lots: [
          {
            accountId: 'acme',
            purchaseId: 'old',
            creditType: 'api',
            credits: 90,
            remaining: 60,
            purchasedAt: '2026-01-01T00:00:00.000Z',
            expiresAt: '2027-01-01T00:00:00.000Z',
            amountMinor: 1000,
            currency: 'EUR',
            invoiceId: null,
            remainingValueMinor: 667,
            expiryRecorded: false,
          },
        ],
        totals: {
          byCurrency: [{ currency: 'EUR', lots: 1, remainingValueMinor: 667 }],
          byCurrencyAndCreditType: [{ currency: 'EUR', creditType: 'api', lots: 1, remaining: 60, remainingValueMinor: 667 }],
        },
      });
    });

    it('counts the same breakage once the ledger recorded CreditsExpired, and says so', () => {
      expect(recorded.map((e) => e.type)).toEqual(['CreditsPurchased', 'RecordsReturned', 'CreditsExpired', 'CreditsPurchased']);
      const report = fold(expiry + 2 * DAY, ...recorded);
      expect(report.breakage().lots).toEqual([expect.objectContaining({ purchaseId: 'old', remaining: 60, remainingValueMinor: 667, expiryRecorded: true })]);
      expect(report.liability().lots).toEqual([expect.objectContaining({ purchaseId: 'new', remaining: 10, remainingValueMinor: 100 })]);
    });

    it('is not breakage when it was spent in full', () => {
      const spent = historyOf(
        purchaseCredits({ purchaseId: 'old', credits: 30, amountMinor: 1000, currency: 'EUR', occurredAt: bought }),
        chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 30, occurredAt: bought + DAY }),
      );
      expect(fold(expiry + DAY, ...spent).breakage().lots).toEqual([]);
    });
  });

  describe('across accounts, currencies and credit types', () => {
    const a = historyOf(
      ...forAccount('a', [
        purchaseCredits({ purchaseId: 'a-api', credits: 1000, amountMinor: 9900, currency: 'USD', occurredAt: JAN_1 }),
        purchaseCredits({ purchaseId: 'a-co', creditType: 'company', credits: 50, amountMinor: 5000, currency: 'USD', occurredAt: JAN_1 }),
        chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 1, occurredAt: JAN_1 + DAY }),
        revealCompanies({ requestId: 'v', companyIds: ['c1', 'c2', 'c3'], occurredAt: JAN_1 + DAY }),
      ]),
    );
    const b = historyOf(
      ...forAccount('b', [
        purchaseCredits({ purchaseId: 'b-api', credits: 3, amountMinor: 100, currency: 'EUR', occurredAt: JAN_1 }),
        chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 2, occurredAt: JAN_1 + DAY }),
        dispatchWebhook({ accountId: 'b', webhookEventId: 'w', recordType: 'company', occurredAt: JAN_1 + 2 * DAY }),
      ]),
    );

    it('totals each currency apart, and each credit type within it', () => {
      expect(b.map((e) => e.type)).toContain('WebhookNotTriggered');
      const report = fold(FEB_1, ...a, ...b).liability();
      expect(report.lots.map((l) => [l.accountId, l.purchaseId, l.remaining, l.remainingValueMinor])).toEqual([
        ['a', 'a-api', 999, 9890], // 9900 × 999 / 1000 = 9890.1
        ['a', 'a-co', 47, 4700],
        ['b', 'b-api', 1, 33], // 100 / 3 = 33.33…
      ]);
      expect(report.totals).toEqual({
        byCurrency: [
          { currency: 'EUR', lots: 1, remainingValueMinor: 33 },
          { currency: 'USD', lots: 2, remainingValueMinor: 14590 },
        ],
        byCurrencyAndCreditType: [
          { currency: 'EUR', creditType: 'api', lots: 1, remaining: 1, remainingValueMinor: 33 },
          { currency: 'USD', creditType: 'api', lots: 1, remaining: 999, remainingValueMinor: 9890 },
          { currency: 'USD', creditType: 'company', lots: 1, remaining: 47, remainingValueMinor: 4700 },
        ],
      });
    });

    it('reads a back-filled account committed after later events of another account ($all is in commit order)', () => {
      // b's 2025 history was back-filled after a's 2026 events were committed.
      const backfilled = historyOf(
        ...forAccount('b', [
          purchaseCredits({ purchaseId: 'b-2025', credits: 10, amountMinor: 1000, currency: 'EUR', occurredAt: JAN_1 - 200 * DAY }),
          chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 4, occurredAt: JAN_1 - 100 * DAY }),
        ]),
      );
      const position = fold(JAN_1 - 50 * DAY, ...a, ...backfilled);
      expect(position.liability().lots).toEqual([expect.objectContaining({ accountId: 'b', purchaseId: 'b-2025', remaining: 6, remainingValueMinor: 600 })]);
    });
  });

  describe('whatever the history (generated)', () => {
    function random(seed: number) {
      let x = seed;
      return (n: number) => {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
        return x % n;
      };
    }

    it.each([11, 12, 13, 14])('the liability and breakage are exactly the paid lots the domain sees, spendable or expired (seed %i)', (seed) => {
      const next = random(seed);
      const states = new Map<string, ReturnType<typeof initialState>>();
      const ledger: CreditAccountEvent[] = [];
      let t = JAN_1 - 400 * DAY;
      for (let i = 0; i < 400; i += 1) {
        t += (1 + next(72)) * HOUR;
        const accountId = `acct-${next(4)}`;
        const state = states.get(accountId) ?? initialState();
        states.set(accountId, state);
        const occurredAt = Math.max(t, state.latestEventAt ?? t);
        const pick = next(10);
        const command: CreditAccountCommand =
          pick < 2
            ? {
                ...purchaseCredits({ purchaseId: `p-${i}`, credits: 1 + next(500), amountMinor: next(100_000), currency: next(2) ? 'USD' : 'EUR', occurredAt }),
                ...(next(3) === 0 ? { paid: false, source: 'grant' as const, amountMinor: undefined, currency: undefined, expiresAt: occurredAt + (1 + next(60)) * DAY } : {}),
                accountId,
              }
            : { ...chargeRecords({ requestId: `q-${i}`, endpoint: 'job_search', records: 1 + next(30), allowPartial: true, occurredAt }), accountId };
        const cleaned = Object.fromEntries(Object.entries(command).filter(([, v]) => v !== undefined)) as CreditAccountCommand;
        for (const event of decide(cleaned, state).events) {
          evolve(state, event);
          ledger.push(event);
        }
      }
      for (const asOf of [JAN_1 - 200 * DAY, JAN_1, t]) {
        const liable = new Map<string, number>();
        const broken = new Map<string, number>();
        for (const accountId of states.keys()) {
          // Each account replayed to asOf: the domain's own view of its lots then.
          const replay = initialState();
          for (const event of ledger.filter((e) => e.data.accountId === accountId)) {
            if (instantOf(occurredAtOf(event)) > asOf) break;
            evolve(replay, event);
            // A lot whose expiry is recorded has nothing left: it is gone from the state, and broke what expired.
            if (event.type === 'CreditsExpired' && event.data.paid) broken.set(event.data.purchaseId, event.data.credits);
          }
          for (const lot of replay.lots.values()) {
            if (!lot.paid) continue;
            if (isUsableAt(lot, asOf)) liable.set(lot.purchaseId, lot.remaining);
            // What the lot held when it expired, its expiry not yet recorded.
            else if (lot.expiresAt <= asOf) broken.set(lot.purchaseId, lot.remaining);
          }
        }
        const position = fold(asOf, ...ledger);
        expect(new Map(position.liability().lots.map((l) => [l.purchaseId, l.remaining]))).toEqual(liable);
        expect(new Map(position.breakage().lots.map((l) => [l.purchaseId, l.remaining]))).toEqual(broken);
      }
      expect(fold(t, ...ledger).breakage().lots.length).toBeGreaterThan(0);
    });
  });

  describe('a history the rules never produce', () => {
    it('is refused, not papered over', () => {
      const charge = historyOf(
        purchaseCredits({ purchaseId: 'p', credits: 100, occurredAt: JAN_1 }),
        chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 5, occurredAt: FEB_1 }),
      )[1]!;
      expect(() => fold(MAR_1, charge)).toThrow(InconsistentHistoryError);
      expect(() => fold(MAR_1, paidLot('p', 'api', 4, JAN_1), charge)).toThrow(InconsistentHistoryError);
      expect(() => fold(MAR_1, paidLot('p', 'api', 4, JAN_1), paidLot('p', 'api', 4, JAN_1))).toThrow(InconsistentHistoryError);
    });
  });

  it('exports its lots as CSV, one line per lot', () => {
    const history = historyOf(
      purchaseCredits({ purchaseId: 'pack', credits: 300, amountMinor: 1000, currency: 'USD', invoiceId: 'inv-1', occurredAt: JAN_1 }),
    );
    expect(liabilityCsv(fold(FEB_1, ...history).liability().lots)).toBe(
      'account_id,purchase_id,credit_type,credits,remaining,purchased_at,expires_at,amount_minor,currency,invoice_id,remaining_value_minor\r\n' +
        'acme,pack,api,300,300,2026-01-01T00:00:00.000Z,2027-01-01T00:00:00.000Z,1000,USD,inv-1,1000\r\n',
    );
    const expired = fold(at('2027-02-01T00:00:00.000Z'), ...history).breakage().lots;
    expect(breakageCsv(expired).split('\r\n')[1]).toBe('acme,pack,api,300,300,2026-01-01T00:00:00.000Z,2027-01-01T00:00:00.000Z,1000,USD,inv-1,1000,false');
  });
});
