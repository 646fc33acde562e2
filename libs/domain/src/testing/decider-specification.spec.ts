import { given, historyOf } from './decider-specification.js';
import { at, chargeRecords, creditsPurchased, dispatchWebhook, paidLot, purchaseCredits } from './credit-account.fixtures.js';

const NOW = at('2026-03-01T10:00:00.000Z');
const buy = purchaseCredits({ purchaseId: 'lot-a', credits: 10, occurredAt: NOW });
const charge = chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 4, occurredAt: NOW });

// The specification must be able to fail, or the specs built on it prove nothing.
describe('the decider specification', () => {
  it('fails when the events differ', () => {
    expect(() => given([]).when(buy).then([])).toThrow();
    expect(() => given([]).when(buy).then([creditsPurchased({ ...buy, credits: 11 })])).toThrow();
  });

  it('fails when nothing was expected but events were written', () => {
    expect(() => given([]).when(buy).thenNothing()).toThrow();
  });

  it('fails when a refusal was expected but the command was accepted', () => {
    expect(() => given([]).when(buy).thenRefuses('INVALID_COMMAND')).toThrow();
  });

  it('fails when the refusal has another code, other details, or other events', () => {
    const broke = [paidLot('lot-a', 'api', 1, NOW)];
    const when = given(broke).when(charge);
    when.thenRefuses('CREDITS_INSUFFICIENT', { required: 4, available: 1 });
    expect(() => when.thenRefuses('ACCOUNT_NOT_FOUND')).toThrow();
    expect(() => when.thenRefuses('CREDITS_INSUFFICIENT', { required: 5 })).toThrow();
    expect(() => when.thenRefuses('CREDITS_INSUFFICIENT', {}, [creditsPurchased(buy)])).toThrow();
    const notTriggered = given(broke).when(dispatchWebhook({ webhookEventId: 'e1', recordType: 'company', occurredAt: NOW }));
    expect(() => notTriggered.thenRefuses('CREDITS_INSUFFICIENT')).toThrow();
  });

  it('fails when the answer differs, or when there is no answer because the command was refused', () => {
    expect(() => given([]).when(buy).thenAnswers({ balances: { api: { available: 9 } } })).toThrow();
    expect(() => given([]).when(charge).thenAnswers({})).toThrow('it was refused: ACCOUNT_NOT_FOUND');
  });

  it('decides against the given history and answers from the history plus the new events', () => {
    given(historyOf(buy)).when(charge).thenAnswers({ creditsCharged: 4, balances: { api: { available: 6 }, company: { available: 0 } } });
  });

  it('refuses to build a history from a command that would be refused', () => {
    expect(() => historyOf(charge)).toThrow('historyOf: ChargeRecords was refused: ACCOUNT_NOT_FOUND');
  });
});
