import { given, historyOf } from '../testing/decider-specification.js';
import {
  ACCOUNT,
  at,
  chargeRecords,
  creditsPurchased,
  paidLot,
  purchaseCredits,
} from '../testing/credit-account.fixtures.js';
import { fingerprintOf } from './credit-account.decider.js';

const JAN_31 = at('2026-01-31T09:00:00.000Z');

describe('purchases create lots (rules 2 and 3)', () => {
  describe('when a team buys API credits', () => {
    const buy = purchaseCredits({
      purchaseId: 'inv-1001',
      creditType: 'api',
      credits: 5000,
      amountMinor: 4900,
      currency: 'USD',
      invoiceId: 'in_1001',
      occurredAt: JAN_31,
    });

    it('records a paid lot that the ledger makes expire 12 calendar months later', () => {
      given([])
        .when(buy)
        .then([
          {
            type: 'CreditsPurchased',
            data: {
              accountId: ACCOUNT,
              purchaseId: 'inv-1001',
              creditType: 'api',
              credits: 5000,
              paid: true,
              source: 'purchase',
              amountMinor: 4900,
              currency: 'USD',
              invoiceId: 'in_1001',
              purchasedAt: '2026-01-31T09:00:00.000Z',
              expiresAt: '2027-01-31T09:00:00.000Z',
              fingerprint: fingerprintOf(buy),
            },
          },
        ]);
    });

    it('answers with the lot and the balances', () => {
      expect(given([]).when(buy).answer()).toStrictEqual({
        lot: {
          purchaseId: 'inv-1001',
          creditType: 'api',
          credits: 5000,
          paid: true,
          source: 'purchase',
          amountMinor: 4900,
          currency: 'USD',
          invoiceId: 'in_1001',
          purchasedAt: '2026-01-31T09:00:00.000Z',
          expiresAt: '2027-01-31T09:00:00.000Z',
        },
        balances: { api: { available: 5000 }, company: { available: 0 } },
      });
    });

    it('adds to what the team already has, each purchase its own lot', () => {
      given([paidLot('inv-1000', 'api', 200, at('2026-01-02T00:00:00.000Z')), paidLot('pack-1', 'company', 50, at('2026-01-02T00:00:00.000Z'))])
        .when(buy)
        .thenAnswers({ balances: { api: { available: 5200 }, company: { available: 50 } } });
    });
  });

  describe('when the purchase states its own expiry although it is paid', () => {
    it('is refused: paid credits always live 12 months', () => {
      given([])
        .when(purchaseCredits({ purchaseId: 'p1', credits: 100, expiresAt: at('2026-02-28T00:00:00.000Z'), occurredAt: JAN_31 }))
        .thenRefuses('INVALID_COMMAND', {
          fields: [{ field: 'expiresAt', message: 'paid credits expire 12 calendar months after purchase; do not set it' }],
        });
    });
  });

  describe('when money changed hands but the amount or currency is missing', () => {
    it('is refused, naming both fields', () => {
      given([])
        .when({ type: 'PurchaseCredits', accountId: ACCOUNT, purchaseId: 'p1', creditType: 'api', credits: 100, paid: true, occurredAt: JAN_31 })
        .thenRefuses('INVALID_COMMAND', {
          fields: [
            { field: 'amountMinor', message: 'is required for a paid lot' },
            { field: 'currency', message: 'is required for a paid lot' },
          ],
        });
    });
  });

  describe('when credits are granted for free (trial, grant)', () => {
    const trial = purchaseCredits({
      purchaseId: 'trial-1',
      creditType: 'company',
      credits: 50,
      paid: false,
      source: 'trial',
      expiresAt: at('2026-02-28T09:00:00.000Z'),
      occurredAt: JAN_31,
    });

    it('records an unpaid lot expiring when the grant says, with no amount', () => {
      given([])
        .when(trial)
        .then([
          {
            type: 'CreditsPurchased',
            data: {
              accountId: ACCOUNT,
              purchaseId: 'trial-1',
              creditType: 'company',
              credits: 50,
              paid: false,
              source: 'trial',
              purchasedAt: '2026-01-31T09:00:00.000Z',
              expiresAt: '2026-02-28T09:00:00.000Z',
              fingerprint: fingerprintOf(trial),
            },
          },
        ]);
    });

    it('is a grant unless said otherwise', () => {
      const grant = purchaseCredits({ purchaseId: 'g1', credits: 200, paid: false, expiresAt: at('2026-03-01T00:00:00.000Z'), occurredAt: JAN_31 });
      given([]).when(grant).thenAnswers({ lot: { source: 'grant', paid: false } });
    });

    it('is refused without an expiry', () => {
      given([])
        .when(purchaseCredits({ purchaseId: 'g1', credits: 200, paid: false, occurredAt: JAN_31 }))
        .thenRefuses('INVALID_COMMAND', { fields: [{ field: 'expiresAt', message: 'is required for an unpaid lot' }] });
    });

    it('is refused when it would expire at the instant it is granted, or before', () => {
      for (const expiresAt of [JAN_31, JAN_31 - 1]) {
        given([])
          .when(purchaseCredits({ purchaseId: 'g1', credits: 200, paid: false, expiresAt, occurredAt: JAN_31 }))
          .thenRefuses('INVALID_COMMAND', { fields: [{ field: 'expiresAt', message: 'must be after the purchase' }] });
      }
    });

    it('is refused when it carries an amount', () => {
      given([])
        .when(
          purchaseCredits({
            purchaseId: 'g1',
            credits: 200,
            paid: false,
            amountMinor: 100,
            currency: 'USD',
            expiresAt: at('2026-03-01T00:00:00.000Z'),
            occurredAt: JAN_31,
          }),
        )
        .thenRefuses('INVALID_COMMAND', { fields: [{ field: 'amountMinor', message: 'an unpaid lot has no amount or currency' }] });
    });
  });

  describe('when the source contradicts whether it was paid', () => {
    it('refuses a paid trial', () => {
      given([])
        .when(purchaseCredits({ purchaseId: 'p1', credits: 100, source: 'trial', occurredAt: JAN_31 }))
        .thenRefuses('INVALID_COMMAND', {
          fields: [{ field: 'source', message: "a paid lot's source is one of purchase, subscription, auto_recharge" }],
        });
    });

    it('refuses an unpaid subscription', () => {
      given([])
        .when(
          purchaseCredits({
            purchaseId: 'p1',
            credits: 100,
            paid: false,
            source: 'subscription',
            expiresAt: at('2026-03-01T00:00:00.000Z'),
            occurredAt: JAN_31,
          }),
        )
        .thenRefuses('INVALID_COMMAND', { fields: [{ field: 'source', message: "an unpaid lot's source is trial or grant" }] });
    });

    it('refuses an auto-recharge request id on anything but an auto_recharge purchase', () => {
      given([])
        .when(purchaseCredits({ purchaseId: 'p1', credits: 100, autoRechargeId: 'ar-1', occurredAt: JAN_31 }))
        .thenRefuses('INVALID_COMMAND', {
          fields: [{ field: 'autoRechargeId', message: 'only an auto_recharge purchase names an auto-recharge request' }],
        });
    });

    it.each(['purchase', 'subscription', 'auto_recharge'] as const)('accepts a paid %s', (source) => {
      given([])
        .when(purchaseCredits({ purchaseId: 'p1', credits: 100, source, occurredAt: JAN_31 }))
        .thenAnswers({ lot: { source, paid: true, expiresAt: '2027-01-31T09:00:00.000Z' } });
    });
  });

  describe('when the same purchase is posted again (same purchaseId)', () => {
    const buy = purchaseCredits({ purchaseId: 'inv-1001', credits: 100, occurredAt: JAN_31 });
    const original = given([]).when(buy).answer();
    const spentSince = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 30, occurredAt: JAN_31 + 1000 });
    const history = historyOf(buy, spentSince);

    it('with the same payload, writes nothing new and answers as the first time, even after credits were spent', () => {
      const retry = { ...buy, occurredAt: JAN_31 + 60_000 };
      given(history).when(retry).thenNothing().andAnswers(original);
      expect(given(history).when(retry).answer()).toStrictEqual(original);
    });

    it('with another payload, is refused as a reused key', () => {
      given(history)
        .when({ ...buy, credits: 1000, occurredAt: JAN_31 + 60_000 })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { purchaseId: 'inv-1001' });
    });
  });

  describe('when the purchase is dated before the account\'s latest event', () => {
    it('is refused: time never goes backwards within an account', () => {
      given([paidLot('inv-1000', 'api', 100, JAN_31)])
        .when(purchaseCredits({ purchaseId: 'inv-1001', credits: 100, occurredAt: JAN_31 - 1 }))
        .thenRefuses('OCCURRED_AT_BEFORE_LATEST_EVENT', {
          occurredAt: '2026-01-31T08:59:59.999Z',
          latestEventAt: '2026-01-31T09:00:00.000Z',
        });
    });

    it('is accepted at the very instant of the latest event', () => {
      given([paidLot('inv-1000', 'api', 100, JAN_31)])
        .when(purchaseCredits({ purchaseId: 'inv-1001', credits: 100, occurredAt: JAN_31 }))
        .thenAnswers({ balances: { api: { available: 200 }, company: { available: 0 } } });
    });
  });

  describe('when the given history was written by the fixtures', () => {
    it('matches what the decider writes (so other specs may rely on it)', () => {
      const buy = purchaseCredits({ purchaseId: 'inv-1', credits: 100, occurredAt: JAN_31 });
      given([]).when(buy).then([creditsPurchased(buy)]);
    });
  });
});
