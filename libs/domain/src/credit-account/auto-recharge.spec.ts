import { given, historyOf } from '../testing/decider-specification.js';
import { at, chargeRecords, dispatchWebhook, purchaseCredits } from '../testing/credit-account.fixtures.js';
import type { CreditAccountCommand, FailAutoRecharge, SetAutoRechargeRule } from './credit-account.commands.js';

const T = at('2026-04-10T09:00:00.000Z');
const MIN = 60_000;
const pack = purchaseCredits({ purchaseId: 'pack', credits: 100, paid: true, amountMinor: 900, currency: 'USD', occurredAt: T });
const rule = (fields: Partial<SetAutoRechargeRule> = {}): SetAutoRechargeRule => ({
  type: 'SetAutoRechargeRule',
  accountId: 'acme',
  creditType: 'api',
  threshold: 50,
  credits: 500,
  enabled: true,
  setBy: 'admin',
  occurredAt: T + MIN,
  ...fields,
});
const charge = (requestId: string, records: number, minute: number) =>
  chargeRecords({ requestId, endpoint: 'job_search', records, occurredAt: T + minute * MIN });
const fail = (autoRechargeId: string, minute: number): FailAutoRecharge => ({
  type: 'FailAutoRecharge',
  accountId: 'acme',
  autoRechargeId,
  reason: 'card declined',
  occurredAt: T + minute * MIN,
});
const complete = (autoRechargeId: string, minute: number) =>
  purchaseCredits({ purchaseId: `pay-${autoRechargeId}`, credits: 500, paid: true, source: 'auto_recharge', autoRechargeId, amountMinor: 4500, currency: 'USD', occurredAt: T + minute * MIN });
const events = (...commands: CreditAccountCommand[]) => historyOf(pack, rule(), ...commands);

describe('auto recharge (rule 10)', () => {
  describe('when a charge leaves the balance below the threshold', () => {
    it("records a request for the rule's pack in the same decision as the charge", () => {
      const decided = given(events()).when(charge('r1', 60, 2));
      expect(decided.decision.events.map((e) => e.type)).toEqual(['RecordsReturned', 'AutoRechargeRequested']);
      expect(decided.decision.events[1]).toMatchObject({
        data: { autoRechargeId: 'ar-api-1', creditType: 'api', credits: 500, trigger: 'below_threshold', balance: 40, threshold: 50 },
      });
    });

    it('makes no request while the balance stays at or above the threshold', () => {
      expect(given(events()).when(charge('r1', 50, 2)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
    });

    it('keeps at most one request outstanding per credit type', () => {
      expect(given(events(charge('r1', 60, 2))).when(charge('r2', 10, 3)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
    });
  });

  describe('when a charge is refused for lack of credits', () => {
    it('records the request although the charge writes nothing, and says so in the refusal', () => {
      given(events())
        .when(charge('r1', 101, 2))
        .thenRefuses('CREDITS_INSUFFICIENT', { required: 101, available: 100, autoRechargeRequested: 'ar-api-1' }, [
          expect.objectContaining({ type: 'AutoRechargeRequested', data: expect.objectContaining({ trigger: 'charge_refused', balance: 100 }) }),
        ] as never);
    });

    it('does so for a webhook event that could not be dispatched, too', () => {
      const drained = events(charge('r1', 100, 2), fail('ar-api-1', 3));
      const refused = given(drained).when(dispatchWebhook({ webhookEventId: 'e1', webhookId: 'w', recordType: 'company', occurredAt: T + 5 * MIN }));
      expect(refused.decision.events.map((e) => e.type)).toEqual(['WebhookNotTriggered', 'AutoRechargeRequested']);
    });
  });

  describe('when the billing service completes the request with a purchase naming it', () => {
    it('adds the paid lot and lets the next crossing make a new request', () => {
      const history = events(charge('r1', 60, 2), complete('ar-api-1', 3));
      const next = given(history).when(charge('r2', 520, 4));
      expect(next.decision.events[1]).toMatchObject({ data: { autoRechargeId: 'ar-api-2', balance: 20 } });
    });

    it('refuses a purchase naming an unknown request, or one no longer pending', () => {
      given(events()).when(complete('ar-api-9', 2)).thenRefuses('AUTO_RECHARGE_NOT_FOUND', { autoRechargeId: 'ar-api-9' });
      given(events(charge('r1', 60, 2), complete('ar-api-1', 3)))
        .when({ ...complete('ar-api-1', 4), purchaseId: 'another-payment' })
        .thenRefuses('AUTO_RECHARGE_NOT_PENDING', { status: 'completed' });
    });
  });

  describe('when payments fail', () => {
    it('counts failures in a row and disables the rule at the third', () => {
      const once = events(charge('r1', 60, 2));
      given(once).when(fail('ar-api-1', 3)).thenAnswers({ failure: expect.objectContaining({ consecutiveFailures: 1, ruleDisabled: false }) });
      const twice = events(charge('r1', 60, 2), fail('ar-api-1', 3), charge('r2', 1, 4), fail('ar-api-2', 5), charge('r3', 1, 6));
      given(twice).when(fail('ar-api-3', 7)).thenAnswers({ failure: expect.objectContaining({ consecutiveFailures: 3, ruleDisabled: true }) });
      const disabled = events(charge('r1', 60, 2), fail('ar-api-1', 3), charge('r2', 1, 4), fail('ar-api-2', 5), charge('r3', 1, 6), fail('ar-api-3', 7));
      expect(given(disabled).when(charge('r4', 1, 8)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
    });

    it('a success in between starts the count again', () => {
      const history = events(charge('r1', 60, 2), fail('ar-api-1', 3), charge('r2', 1, 4), complete('ar-api-2', 5), charge('r3', 540, 6));
      given(history).when(fail('ar-api-3', 7)).thenAnswers({ failure: expect.objectContaining({ consecutiveFailures: 1 }) });
    });

    it('a retried failure report answers the same and writes nothing', () => {
      const history = events(charge('r1', 60, 2), fail('ar-api-1', 3));
      given(history).when(fail('ar-api-1', 4)).thenNothing();
    });
  });

  describe('with a monthly cap', () => {
    it('makes no more requests that month, and again the next', () => {
      const capped = historyOf(pack, rule({ monthlyCap: 1 }), charge('r1', 60, 2), complete('ar-api-1', 3));
      expect(given(capped).when(charge('r2', 520, 4)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
      const nextMonth = chargeRecords({ requestId: 'r3', endpoint: 'job_search', records: 520, occurredAt: at('2026-05-01T00:00:00.000Z') });
      expect(given(capped).when(nextMonth).decision.events.map((e) => e.type)).toEqual(['RecordsReturned', 'AutoRechargeRequested']);
    });
  });

  describe('with the rule disabled or removed', () => {
    it('makes no request', () => {
      const disabled = historyOf(pack, rule({ enabled: false }));
      expect(given(disabled).when(charge('r1', 60, 2)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
      const removed = historyOf(pack, rule(), { type: 'RemoveAutoRechargeRule', accountId: 'acme', creditType: 'api', removedBy: 'admin', occurredAt: T + 2 * MIN });
      expect(given(removed).when(charge('r1', 60, 3)).decision.events.map((e) => e.type)).toEqual(['RecordsReturned']);
    });

    it('setting the same rule again writes nothing', () => {
      given(events()).when(rule({ occurredAt: T + 2 * MIN })).thenNothing();
    });
  });
});
