import { given, historyOf } from '../testing/decider-specification.js';
import {
  ACCOUNT,
  at,
  chargeRecords,
  creditsExpired,
  grantLot,
  paidLot,
  purchaseCredits,
} from '../testing/credit-account.fixtures.js';
import type { Allocation } from '../lots/lot.js';
import type { RecordEndpoint } from '../pricing/price-table.js';
import { iso } from '../shared/time.js';
import type { ChargeRecords } from './credit-account.commands.js';
import { fingerprintOf } from './credit-account.decider.js';
import type { RecordsReturned } from './credit-account.events.js';

const NOW = at('2026-03-01T10:00:00.000Z');
const JAN = at('2026-01-10T00:00:00.000Z');
const FEB = at('2026-02-10T00:00:00.000Z');

/** The charge event the command should write, with what the rules decide spelled out by the test. */
function recordsReturned(
  command: ChargeRecords,
  charge: { recordsBilled: number; unitPrice: number; priceTable: string; credits: number; allocations: Allocation[] },
): RecordsReturned {
  return {
    type: 'RecordsReturned',
    data: {
      accountId: ACCOUNT,
      requestId: command.requestId,
      endpoint: command.endpoint,
      recordsRequested: command.records,
      ...charge,
      creditType: 'api',
      chargedAt: iso(command.occurredAt),
      fingerprint: fingerprintOf(command),
    },
  };
}

describe('API credits are charged per record returned (rules 6, 7 and 9)', () => {
  const hundredCredits = [paidLot('lot-jan', 'api', 100, JAN)];

  describe.each<[RecordEndpoint, number, string]>([
    ['job_search', 1, 'job'],
    ['company_search', 3, 'company'],
    ['technographics', 3, 'company looked up'],
  ])('when %s returns 4 records', (endpoint, unitPrice, record) => {
    const call = chargeRecords({ requestId: 'r1', endpoint, records: 4, occurredAt: NOW });

    it(`charges ${unitPrice} per ${record}`, () => {
      given(hundredCredits)
        .when(call)
        .then([
          recordsReturned(call, {
            recordsBilled: 4,
            unitPrice,
            priceTable: '2025-01',
            credits: 4 * unitPrice,
            allocations: [{ purchaseId: 'lot-jan', credits: 4 * unitPrice }],
          }),
        ])
        .andAnswers({
          requestId: 'r1',
          endpoint,
          recordsRequested: 4,
          recordsBilled: 4,
          unitPrice,
          creditsCharged: 4 * unitPrice,
          balances: { api: { available: 100 - 4 * unitPrice }, company: { available: 0 } },
        });
    });
  });

  it('records who asked, when the command says', () => {
    const call = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 2, apiKeyId: 'key-7', userId: 'u-ana', occurredAt: NOW });
    const [event] = given(hundredCredits).when(call).decision.events;
    expect(event).toMatchObject({ type: 'RecordsReturned', data: { apiKeyId: 'key-7', userId: 'u-ana' } });
  });

  describe('when the call returned no records', () => {
    const empty = chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 0, occurredAt: NOW });

    it('charges nothing and writes nothing', () => {
      given(hundredCredits).when(empty).thenNothing();
    });

    it('answers that no record was billed', () => {
      expect(given(hundredCredits).when(empty).answer()).toStrictEqual({
        requestId: 'r1',
        endpoint: 'company_search',
        recordsRequested: 0,
        recordsBilled: 0,
        unitPrice: 3,
        creditsCharged: 0,
        balances: { api: { available: 100 }, company: { available: 0 } },
      });
    });

    it('is not charged even when the balance is empty', () => {
      given([grantLot('trial', 'company', 5, JAN, at('2026-04-01T00:00:00.000Z'))]).when(empty).thenNothing();
    });
  });

  describe('when the charge is more than the lot that expires soonest', () => {
    const history = [
      ...historyOf(
        purchaseCredits({ purchaseId: 'lot-jan', credits: 100, occurredAt: JAN }),
        chargeRecords({ requestId: 'r0', endpoint: 'job_search', records: 90, occurredAt: JAN + 1 }),
      ),
      grantLot('trial', 'api', 5, FEB, at('2026-03-15T00:00:00.000Z')),
      paidLot('lot-feb', 'api', 100, FEB + 1),
    ];
    const call = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 20, occurredAt: NOW });

    it('spans the lots in spending order and says which paid for what', () => {
      given(history)
        .when(call)
        .then([
          recordsReturned(call, {
            recordsBilled: 20,
            unitPrice: 1,
            priceTable: '2025-01',
            credits: 20,
            allocations: [
              { purchaseId: 'trial', credits: 5 },
              { purchaseId: 'lot-jan', credits: 10 },
              { purchaseId: 'lot-feb', credits: 5 },
            ],
          }),
        ])
        .andAnswers({ creditsCharged: 20, balances: { api: { available: 95 }, company: { available: 0 } } });
    });
  });

  describe.each([
    ['at the very instant of the charge', NOW],
    ['the millisecond before the charge', NOW - 1],
  ])('when a promotion expired %s', (_situation, promoExpiresAt) => {
    const history = [grantLot('promo', 'api', 50, JAN, promoExpiresAt), paidLot('lot-feb', 'api', 100, FEB)];
    const call = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 10, occurredAt: NOW });

    it('does not spend it, and records its remainder as expired at its expiry, before the charge', () => {
      given(history)
        .when(call)
        .then([
          creditsExpired('promo', 'api', 50, false, promoExpiresAt),
          recordsReturned(call, {
            recordsBilled: 10,
            unitPrice: 1,
            priceTable: '2025-01',
            credits: 10,
            allocations: [{ purchaseId: 'lot-feb', credits: 10 }],
          }),
        ])
        .andAnswers({ balances: { api: { available: 90 }, company: { available: 0 } } });
    });

    it('does not count it when telling what is available', () => {
      given(history)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 101, occurredAt: NOW }))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 101, available: 100 });
    });
  });

  describe('when a promotion expires the millisecond after the charge', () => {
    it('is still spent first', () => {
      const call = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 10, occurredAt: NOW });
      given([grantLot('promo', 'api', 50, JAN, NOW + 1), paidLot('lot-feb', 'api', 100, FEB)])
        .when(call)
        .then([
          recordsReturned(call, {
            recordsBilled: 10,
            unitPrice: 1,
            priceTable: '2025-01',
            credits: 10,
            allocations: [{ purchaseId: 'promo', credits: 10 }],
          }),
        ]);
    });
  });

  describe('when the balance cannot pay for every record', () => {
    const fiveCredits = [paidLot('lot-jan', 'api', 5, JAN)];

    it('refuses the whole charge by default, saying what was required and what is available', () => {
      given(fiveCredits)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 2, occurredAt: NOW }))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 6, available: 5 });
    });

    it('with partial billing, bills as many whole records as the balance pays for', () => {
      const call = chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 4, allowPartial: true, occurredAt: NOW });
      given(fiveCredits)
        .when(call)
        .then([
          recordsReturned(call, {
            recordsBilled: 1,
            unitPrice: 3,
            priceTable: '2025-01',
            credits: 3,
            allocations: [{ purchaseId: 'lot-jan', credits: 3 }],
          }),
        ])
        .andAnswers({
          recordsRequested: 4,
          recordsBilled: 1,
          unitPrice: 3,
          creditsCharged: 3,
          balances: { api: { available: 2 }, company: { available: 0 } },
        });
    });

    it('with partial billing, bills everything when the balance pays for everything', () => {
      given(fiveCredits)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 5, allowPartial: true, occurredAt: NOW }))
        .thenAnswers({ recordsBilled: 5, creditsCharged: 5, balances: { api: { available: 0 }, company: { available: 0 } } });
    });

    it('with partial billing but not even one record payable, refuses', () => {
      given([paidLot('lot-jan', 'api', 2, JAN)])
        .when(chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 4, allowPartial: true, occurredAt: NOW }))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 12, available: 2 });
    });

    it('never uses company credits to pay for API records', () => {
      given([paidLot('pack', 'company', 100, JAN), paidLot('lot-jan', 'api', 1, JAN)])
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 2, occurredAt: NOW }))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 2, available: 1 });
    });
  });

  describe('when the same call is retried (same requestId)', () => {
    const call = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 10, occurredAt: NOW });
    const history = historyOf(
      purchaseCredits({ purchaseId: 'lot-jan', credits: 100, occurredAt: JAN }),
      call,
      chargeRecords({ requestId: 'r2', endpoint: 'company_search', records: 5, occurredAt: NOW + 1000 }),
      purchaseCredits({ purchaseId: 'lot-mar', credits: 500, occurredAt: NOW + 2000 }),
    );
    const retry = { ...call, occurredAt: NOW + 60_000 };

    it('writes nothing and answers as the first time, although the balance has changed since', () => {
      given(history)
        .when(retry)
        .thenNothing()
        .andAnswers({
          requestId: 'r1',
          recordsRequested: 10,
          recordsBilled: 10,
          unitPrice: 1,
          creditsCharged: 10,
          balances: { api: { available: 90 }, company: { available: 0 } },
        });
    });

    it('is recognised even when it carries an earlier time than the latest event', () => {
      given(history).when(call).thenNothing();
    });

    it('with another payload, is refused as a reused key', () => {
      given(history)
        .when({ ...retry, records: 11 })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { requestId: 'r1' });
    });

    it('asking again for the same data under a new requestId is a new call, charged again', () => {
      given(history)
        .when({ ...retry, requestId: 'r3' })
        .thenAnswers({ requestId: 'r3', recordsBilled: 10, creditsCharged: 10, balances: { api: { available: 565 }, company: { available: 0 } } });
    });
  });

  describe("when the call is dated before the account's latest event", () => {
    it('is refused: time never goes backwards within an account', () => {
      given([paidLot('lot-feb', 'api', 100, FEB)])
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 1, occurredAt: FEB - 1 }))
        .thenRefuses('OCCURRED_AT_BEFORE_LATEST_EVENT', {
          occurredAt: '2026-02-09T23:59:59.999Z',
          latestEventAt: '2026-02-10T00:00:00.000Z',
        });
    });
  });

  describe('when the account has no history', () => {
    it('is refused as an unknown account', () => {
      given([])
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 1, occurredAt: NOW }))
        .thenRefuses('ACCOUNT_NOT_FOUND', { accountId: ACCOUNT });
    });
  });

  describe('when the charge happened under the legacy price table (before 2025)', () => {
    const history = [paidLot('lot-2024', 'api', 100, at('2024-06-01T00:00:00.000Z'))];

    it('writes the unit price then in force into the event: 1 per company', () => {
      const call = chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 4, occurredAt: at('2024-12-31T23:59:59.999Z') });
      given(history)
        .when(call)
        .then([
          recordsReturned(call, {
            recordsBilled: 4,
            unitPrice: 1,
            priceTable: '2023-legacy',
            credits: 4,
            allocations: [{ purchaseId: 'lot-2024', credits: 4 }],
          }),
        ]);
    });

    it('charges 3 per company from the first instant of 2025', () => {
      given(history)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'company_search', records: 4, occurredAt: at('2025-01-01T00:00:00.000Z') }))
        .thenAnswers({ unitPrice: 3, creditsCharged: 12, balances: { api: { available: 88 }, company: { available: 0 } } });
    });
  });
});

describe('the fingerprint of a record charge', () => {
  it('is the stored format: the fingerprint of its canonical payload', async () => {
    const { fingerprint } = await import('../shared/fingerprint.js');
    const { fingerprintOf } = await import('./credit-account.decider.js');
    for (const allowPartial of [true, false]) {
      for (const endpoint of ['job_search', 'company_search', 'technographics'] as const) {
        for (const records of [0, 1, 25, 1_000_000]) {
          const command = { type: 'ChargeRecords' as const, accountId: 'a', occurredAt: 0, requestId: 'r', endpoint, records, allowPartial };
          expect(fingerprintOf(command)).toBe(fingerprint({ type: 'ChargeRecords', endpoint, records, allowPartial }));
        }
      }
    }
  });

  it('stays so however many are remembered, asked in any order, past the bound of what is remembered', async () => {
    const { fingerprint } = await import('../shared/fingerprint.js');
    const { fingerprintOf } = await import('./credit-account.decider.js');
    const endpoints = ['job_search', 'company_search', 'technographics'] as const;
    for (let i = 0; i < 25_000; i++) {
      const records = (i * 7919) % 12_000;
      const endpoint = endpoints[i % 3]!;
      const allowPartial = i % 5 === 0;
      const command = { type: 'ChargeRecords' as const, accountId: 'a', occurredAt: 0, requestId: 'r', endpoint, records, allowPartial };
      const expected = fingerprint({ type: 'ChargeRecords', endpoint, records, allowPartial });
      if (fingerprintOf(command) !== expected) throw new Error(`${endpoint} ${records} ${allowPartial}: ${fingerprintOf(command)} != ${expected}`);
    }
  });
});
