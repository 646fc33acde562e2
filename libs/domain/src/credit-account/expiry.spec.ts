import { fold, given, historyOf } from '../testing/decider-specification.js';
import {
  at,
  chargeRecords,
  creditsExpired,
  creditsPurchased,
  dispatchWebhook,
  grantLot,
  paidLot,
  purchaseCredits,
  revealCompanies,
} from '../testing/credit-account.fixtures.js';
import { occurredAtOf } from './credit-account.events.js';
import { balancesAt } from './credit-account.state.js';

const JAN_10 = at('2026-01-10T00:00:00.000Z');
const PAID_EXPIRY = at('2027-01-10T00:00:00.000Z');
const TRIAL_EXPIRY = at('2026-02-10T00:00:00.000Z');

describe('expiry and breakage (rule 3)', () => {
  describe('a balance as of an instant', () => {
    const state = fold([
      paidLot('paid', 'api', 100, JAN_10),
      grantLot('trial', 'api', 200, JAN_10, TRIAL_EXPIRY),
      grantLot('trial-ui', 'company', 50, JAN_10, TRIAL_EXPIRY),
    ]);

    it('counts every lot unexpired at that instant', () => {
      expect(balancesAt(state, TRIAL_EXPIRY - 1)).toEqual({ api: { available: 300 }, company: { available: 50 } });
    });

    it('no longer counts a lot from its expiry instant', () => {
      expect(balancesAt(state, TRIAL_EXPIRY)).toEqual({ api: { available: 100 }, company: { available: 0 } });
    });

    it('is nothing once every lot has expired', () => {
      expect(balancesAt(state, PAID_EXPIRY)).toEqual({ api: { available: 0 }, company: { available: 0 } });
    });
  });

  describe('when the account acts after a lot expired', () => {
    const history = [paidLot('paid', 'api', 100, JAN_10), grantLot('trial', 'api', 200, JAN_10, TRIAL_EXPIRY)];
    const later = at('2026-03-01T10:00:00.000Z');

    it('records the lot\'s remainder as expired, at its expiry instant, before the command\'s own events', () => {
      const buy = purchaseCredits({ purchaseId: 'more', credits: 10, occurredAt: later });
      given(history)
        .when(buy)
        .then([creditsExpired('trial', 'api', 200, false, TRIAL_EXPIRY), creditsPurchased(buy)])
        .andAnswers({ balances: { api: { available: 110 }, company: { available: 0 } } });
    });

    it('records it exactly once', () => {
      const recorded = [...history, creditsExpired('trial', 'api', 200, false, TRIAL_EXPIRY), paidLot('more', 'api', 10, later)];
      const buy = purchaseCredits({ purchaseId: 'more-again', credits: 10, occurredAt: later + 1000 });
      given(recorded).when(buy).then([creditsPurchased(buy)]);
    });

    it('writes nothing, not even the expiry, when the command is refused', () => {
      given(history)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 101, occurredAt: later }))
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 101, available: 100 });
    });

    it('writes nothing, not even the expiry, when the command writes nothing', () => {
      given(history)
        .when(chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 0, occurredAt: later }))
        .thenNothing();
    });

    it('is recorded before a webhook event that is not triggered, too', () => {
      const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'job', occurredAt: at('2027-02-01T00:00:00.000Z') });
      const events = given(history).when(dispatch).decision.events;
      expect(events.map((e) => e.type)).toEqual(['CreditsExpired', 'CreditsExpired', 'WebhookNotTriggered']);
    });

    it('is not recorded a millisecond before the expiry', () => {
      const buy = purchaseCredits({ purchaseId: 'more', credits: 10, occurredAt: TRIAL_EXPIRY - 1 });
      given(history).when(buy).then([creditsPurchased(buy)]);
    });
  });

  describe('when a lot was partly spent before it expired', () => {
    it('the breakage is its remainder', () => {
      const history = historyOf(
        purchaseCredits({ purchaseId: 'trial', credits: 200, paid: false, source: 'trial', expiresAt: TRIAL_EXPIRY, occurredAt: JAN_10 }),
        chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 30, occurredAt: JAN_10 + 1000 }),
      );
      const buy = purchaseCredits({ purchaseId: 'paid', credits: 100, occurredAt: TRIAL_EXPIRY });
      given(history)
        .when(buy)
        .then([creditsExpired('trial', 'api', 170, false, TRIAL_EXPIRY), creditsPurchased(buy)]);
    });
  });

  describe('when a lot was fully spent before it expired', () => {
    it('nothing is recorded as expired', () => {
      const history = historyOf(
        purchaseCredits({ purchaseId: 'trial', credits: 20, paid: false, expiresAt: TRIAL_EXPIRY, occurredAt: JAN_10 }),
        chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 20, occurredAt: JAN_10 + 1000 }),
      );
      const buy = purchaseCredits({ purchaseId: 'paid', credits: 100, occurredAt: TRIAL_EXPIRY });
      given(history).when(buy).then([creditsPurchased(buy)]);
    });
  });

  describe('when several lots of both credit types expired since the last event', () => {
    const history = [
      paidLot('paid-api', 'api', 100, JAN_10),
      grantLot('grant-api', 'api', 200, JAN_10, at('2026-04-01T00:00:00.000Z')),
      grantLot('trial-ui', 'company', 50, JAN_10, TRIAL_EXPIRY),
      paidLot('pack-ui', 'company', 10, at('2026-01-20T00:00:00.000Z')),
    ];

    it('records each, ordered by expiry instant across credit types, then the command', () => {
      const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: at('2027-01-15T00:00:00.000Z') });
      const events = given(history).when(reveal).decision.events;
      expect(events.slice(0, 3)).toStrictEqual([
        creditsExpired('trial-ui', 'company', 50, false, TRIAL_EXPIRY),
        creditsExpired('grant-api', 'api', 200, false, at('2026-04-01T00:00:00.000Z')),
        creditsExpired('paid-api', 'api', 100, true, PAID_EXPIRY),
      ]);
      expect(events.slice(3)).toMatchObject([
        { type: 'CompanyRevealed', data: { companyId: 'stripe', allocations: [{ purchaseId: 'pack-ui', credits: 1 }] } },
      ]);
      expect(events.map(occurredAtOf)).toEqual([
        '2026-02-10T00:00:00.000Z',
        '2026-04-01T00:00:00.000Z',
        '2027-01-10T00:00:00.000Z',
        '2027-01-15T00:00:00.000Z',
      ]);
    });

    it('the lots are gone from the balance and from the state (their breakage is in the events)', () => {
      const when = given(history).when(
        revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: at('2027-01-15T00:00:00.000Z') }),
      );
      const state = when.stateAfter();
      expect(when.answer()).toMatchObject({ balances: { api: { available: 0 }, company: { available: 9 } } });
      expect(state.spendable.api).toEqual([]);
      expect(state.spendable.company.map((l) => l.purchaseId)).toEqual(['pack-ui']);
      expect([...state.lots.values()].map((l) => [l.purchaseId, l.remaining, l.expired])).toEqual([['pack-ui', 9, 0]]);
    });
  });
});

describe('the expiry sweep', () => {
  const sweep = (occurredAt: number) => ({ type: 'SweepExpiries' as const, accountId: 'acme', occurredAt });
  const history = [
    paidLot('paid', 'api', 100, JAN_10),
    grantLot('trial', 'api', 200, JAN_10, TRIAL_EXPIRY),
    grantLot('trial-ui', 'company', 50, JAN_10, TRIAL_EXPIRY),
  ];

  describe('when lots expired and nothing happened on the account since', () => {
    it('records each remainder at its own expiry instant, not at the time of the sweep', () => {
      given(history)
        .when(sweep(TRIAL_EXPIRY + 5 * 86_400_000))
        .then([
          creditsExpired('trial', 'api', 200, false, TRIAL_EXPIRY),
          creditsExpired('trial-ui', 'company', 50, false, TRIAL_EXPIRY),
        ])
        .andAnswers({
          expired: [
            { purchaseId: 'trial', creditType: 'api', credits: 200, expiredAt: '2026-02-10T00:00:00.000Z' },
            { purchaseId: 'trial-ui', creditType: 'company', credits: 50, expiredAt: '2026-02-10T00:00:00.000Z' },
          ],
          balances: { api: { available: 100 }, company: { available: 0 } },
        });
    });
  });

  describe('when the expiries were already recorded (another sweep, or a later command)', () => {
    it('records nothing again', () => {
      given([...history, creditsExpired('trial', 'api', 200, false, TRIAL_EXPIRY), creditsExpired('trial-ui', 'company', 50, false, TRIAL_EXPIRY)])
        .when(sweep(TRIAL_EXPIRY + 6 * 86_400_000))
        .thenNothing();
    });
  });

  describe('when nothing has expired yet', () => {
    it('records nothing', () => {
      given(history).when(sweep(TRIAL_EXPIRY - 1)).thenNothing();
    });
  });

  describe('when a lot was partly spent before it expired', () => {
    it('records only what was left of it', () => {
      const spent = historyOf(
        purchaseCredits({ purchaseId: 'trial', credits: 10, paid: false, source: 'trial', expiresAt: TRIAL_EXPIRY, occurredAt: JAN_10 }),
        chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 4, occurredAt: JAN_10 + 1000 }),
      );
      given(spent).when(sweep(TRIAL_EXPIRY)).then([creditsExpired('trial', 'api', 6, false, TRIAL_EXPIRY)]);
    });
  });
});
