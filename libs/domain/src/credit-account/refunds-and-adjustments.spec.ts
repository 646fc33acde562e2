import { given, historyOf } from '../testing/decider-specification.js';
import { at, chargeRecords, daysAfter, purchaseCredits } from '../testing/credit-account.fixtures.js';
import type { AdjustCredits, RefundPurchase } from './credit-account.commands.js';
import { fingerprintOf } from './credit-account.decider.js';

const BOUGHT = at('2026-03-01T10:00:00.000Z');
const pack = purchaseCredits({ purchaseId: 'pack', credits: 100, paid: true, amountMinor: 9900, currency: 'USD', invoiceId: 'inv-7', occurredAt: BOUGHT });
const refund = (occurredAt: number, fields: Partial<RefundPurchase> = {}): RefundPurchase => ({
  type: 'RefundPurchase',
  accountId: 'acme',
  purchaseId: 'pack',
  refundedBy: 'billing-admin',
  occurredAt,
  ...fields,
});
const adjust = (credits: number, occurredAt: number, fields: Partial<AdjustCredits> = {}): AdjustCredits => ({
  type: 'AdjustCredits',
  accountId: 'acme',
  adjustmentId: 'adj-1',
  creditType: 'api',
  credits,
  reason: 'goodwill after outage',
  adjustedBy: 'ops-admin',
  occurredAt,
  ...fields,
});

describe('refunds (rule 11)', () => {
  describe('when nothing of a paid purchase was used, 89 days later', () => {
    const command = refund(daysAfter(BOUGHT, 89), { reason: 'customer asked' });

    it('records the refund with the purchase amount and invoice, and the lot leaves the balance', () => {
      given(historyOf(pack))
        .when(command)
        .then([
          {
            type: 'PurchaseRefunded',
            data: {
              accountId: 'acme',
              purchaseId: 'pack',
              creditType: 'api',
              credits: 100,
              amountMinor: 9900,
              currency: 'USD',
              invoiceId: 'inv-7',
              reason: 'customer asked',
              refundedBy: 'billing-admin',
              refundedAt: '2026-05-29T10:00:00.000Z',
              fingerprint: fingerprintOf(command),
            },
          },
        ])
        .andAnswers({ balances: { api: { available: 0 }, company: { available: 0 } } });
    });

    it('a retry answers the same and writes nothing', () => {
      const history = [...historyOf(pack), ...given(historyOf(pack)).when(command).decision.events];
      given(history).when({ ...command, occurredAt: daysAfter(BOUGHT, 95) }).thenNothing();
    });
  });

  describe('when a single credit was used', () => {
    it('is refused, saying how many were used', () => {
      given(historyOf(pack, chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 1, occurredAt: BOUGHT + 1000 })))
        .when(refund(daysAfter(BOUGHT, 1)))
        .thenRefuses('REFUND_NOT_ALLOWED', { reason: 'credits_consumed', consumed: 1 });
    });
  });

  describe('when every credit was used (the lot has left the state)', () => {
    const spent = historyOf(pack, chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 100, occurredAt: BOUGHT + 1000 }));

    it('is refused, saying all of them were used, as for any lot used', () => {
      const when = given(spent).when(refund(daysAfter(BOUGHT, 1)));
      expect(when.stateAfter().lots.has('pack')).toBe(false);
      when.thenRefuses('REFUND_NOT_ALLOWED', { reason: 'credits_consumed', consumed: 100 });
    });

    it('is refused as expired after its expiry, and as not paid for when it was a trial', () => {
      given(spent).when(refund(daysAfter(BOUGHT, 400))).thenRefuses('REFUND_NOT_ALLOWED', { reason: 'already_expired' });
      const trial = purchaseCredits({ purchaseId: 'pack', credits: 5, paid: false, source: 'trial', expiresAt: daysAfter(BOUGHT, 30), occurredAt: BOUGHT });
      const spentTrial = historyOf(trial, chargeRecords({ requestId: 'r', endpoint: 'job_search', records: 5, occurredAt: BOUGHT + 1000 }));
      given(spentTrial).when(refund(BOUGHT + 2000)).thenRefuses('REFUND_NOT_ALLOWED', { reason: 'not_paid' });
    });
  });

  describe('when the 90 days have passed', () => {
    it('is refused on day 91, and allowed at exactly 90 days', () => {
      given(historyOf(pack))
        .when(refund(daysAfter(BOUGHT, 90) + 1))
        .thenRefuses('REFUND_NOT_ALLOWED', { reason: 'refund_window_passed', refundableUntil: '2026-05-30T10:00:00.000Z' });
      expect(given(historyOf(pack)).when(refund(daysAfter(BOUGHT, 90))).decision.refusal).toBeUndefined();
    });
  });

  describe('when the lot was not paid for, or does not exist', () => {
    it('is refused', () => {
      const trial = purchaseCredits({ purchaseId: 'pack', credits: 50, paid: false, source: 'trial', expiresAt: daysAfter(BOUGHT, 30), occurredAt: BOUGHT });
      given(historyOf(trial)).when(refund(BOUGHT + 1)).thenRefuses('REFUND_NOT_ALLOWED', { reason: 'not_paid' });
      given(historyOf(pack)).when(refund(BOUGHT + 1, { purchaseId: 'nope' })).thenRefuses('PURCHASE_NOT_FOUND', { purchaseId: 'nope' });
    });
  });
});

describe('adjustments', () => {
  describe('when an admin grants credits', () => {
    it('adds a lot of its own, with the reason and the admin, expiring 12 months later by default', () => {
      given(historyOf(pack))
        .when(adjust(25, BOUGHT + 1000))
        .then([
          {
            type: 'CreditsAdjusted',
            data: {
              accountId: 'acme',
              adjustmentId: 'adj-1',
              creditType: 'api',
              credits: 25,
              reason: 'goodwill after outage',
              adjustedBy: 'ops-admin',
              lotId: 'adjustment:adj-1',
              expiresAt: '2027-03-01T10:00:01.000Z',
              adjustedAt: '2026-03-01T10:00:01.000Z',
              fingerprint: fingerprintOf(adjust(25, BOUGHT + 1000)),
            },
          },
        ])
        .andAnswers({ balances: { api: { available: 125 }, company: { available: 0 } } });
    });

    it('may start an account with no history', () => {
      expect(given([]).when(adjust(10, BOUGHT)).decision.events).toHaveLength(1);
    });
  });

  describe('when an admin removes credits', () => {
    it('takes them from the lots in spending order', () => {
      const removal = given(historyOf(pack)).when(adjust(-30, BOUGHT + 1000));
      expect(removal.decision.events[0]).toMatchObject({ data: { credits: -30, allocations: [{ purchaseId: 'pack', credits: 30 }] } });
      removal.thenAnswers({ balances: { api: { available: 70 }, company: { available: 0 } } });
    });

    it('never takes a balance below zero', () => {
      given(historyOf(pack))
        .when(adjust(-101, BOUGHT + 1000))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 101, available: 100 });
    });
  });

  it('the same adjustment id with another amount is a reused key', () => {
    const history = [...historyOf(pack), ...given(historyOf(pack)).when(adjust(25, BOUGHT + 1000)).decision.events];
    given(history).when(adjust(26, BOUGHT + 2000)).thenRefuses('IDEMPOTENCY_KEY_REUSED', { adjustmentId: 'adj-1' });
  });
});
