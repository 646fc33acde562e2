import { given, historyOf } from '../testing/decider-specification.js';
import {
  ACCOUNT,
  at,
  chargeRecords,
  dispatchWebhook,
  paidLot,
  purchaseCredits,
} from '../testing/credit-account.fixtures.js';
import type { Allocation } from '../lots/lot.js';
import { iso } from '../shared/time.js';
import type { DispatchWebhook } from './credit-account.commands.js';
import { fingerprintOf } from './credit-account.decider.js';
import type { WebhookDispatched, WebhookNotTriggered } from './credit-account.events.js';

const NOW = at('2026-03-01T10:00:00.000Z');
const JAN = at('2026-01-10T00:00:00.000Z');

function webhookDispatched(
  command: DispatchWebhook,
  charge: { unitPrice: number; priceTable?: string; allocations?: Allocation[] },
): WebhookDispatched {
  const { unitPrice, priceTable = '2025-01', allocations = [{ purchaseId: 'lot-jan', credits: unitPrice }] } = charge;
  return {
    type: 'WebhookDispatched',
    data: {
      accountId: ACCOUNT,
      webhookEventId: command.webhookEventId,
      webhookId: command.webhookId,
      recordType: command.recordType,
      unitPrice,
      priceTable,
      creditType: 'api',
      credits: unitPrice,
      allocations,
      dispatchedAt: iso(command.occurredAt),
      fingerprint: fingerprintOf(command),
    },
  };
}

function webhookNotTriggered(command: DispatchWebhook, required: number, available: number): WebhookNotTriggered {
  return {
    type: 'WebhookNotTriggered',
    data: {
      accountId: ACCOUNT,
      webhookEventId: command.webhookEventId,
      webhookId: command.webhookId,
      recordType: command.recordType,
      required,
      available,
      refusedAt: iso(command.occurredAt),
      fingerprint: fingerprintOf(command),
    },
  };
}

describe('webhook events are charged once, at first dispatch (rules 6 and 8)', () => {
  const tenCredits = [paidLot('lot-jan', 'api', 10, JAN)];

  describe('when a job event is dispatched', () => {
    const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'job', occurredAt: NOW });

    it('charges 1 API credit', () => {
      given(tenCredits)
        .when(dispatch)
        .then([webhookDispatched(dispatch, { unitPrice: 1 })]);
    });

    it('answers dispatched, with what was charged', () => {
      expect(given(tenCredits).when(dispatch).answer()).toStrictEqual({
        webhookEventId: 'evt-1',
        status: 'dispatched',
        creditsCharged: 1,
        balances: { api: { available: 9 }, company: { available: 0 } },
      });
    });
  });

  describe('when a company event is dispatched', () => {
    it('charges 3 API credits', () => {
      const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'company', occurredAt: NOW });
      given(tenCredits)
        .when(dispatch)
        .then([webhookDispatched(dispatch, { unitPrice: 3 })])
        .andAnswers({ creditsCharged: 3, balances: { api: { available: 7 }, company: { available: 0 } } });
    });

    it('charged 1 under the legacy table, before 2025', () => {
      const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'company', occurredAt: at('2024-12-31T23:59:59.999Z') });
      given([paidLot('lot-2024', 'api', 10, at('2024-06-01T00:00:00.000Z'))])
        .when(dispatch)
        .then([
          webhookDispatched(dispatch, {
            unitPrice: 1,
            priceTable: '2023-legacy',
            allocations: [{ purchaseId: 'lot-2024', credits: 1 }],
          }),
        ]);
    });
  });

  describe('when the delivery of an event already dispatched is retried (same webhookEventId)', () => {
    const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'company', occurredAt: NOW });
    const history = historyOf(
      purchaseCredits({ purchaseId: 'lot-jan', credits: 10, occurredAt: JAN }),
      dispatch,
      chargeRecords({ requestId: 'r1', endpoint: 'job_search', records: 4, occurredAt: NOW + 1000 }),
    );
    const retry = { ...dispatch, occurredAt: NOW + 3_600_000 };

    it('charges nothing more and answers as the first time', () => {
      given(history)
        .when(retry)
        .thenNothing()
        .andAnswers({ webhookEventId: 'evt-1', status: 'dispatched', creditsCharged: 3, balances: { api: { available: 7 }, company: { available: 0 } } });
    });

    it('under another webhook, is refused as a reused key', () => {
      given(history)
        .when({ ...retry, webhookId: 'wh-other' })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { webhookEventId: 'evt-1' });
    });

    it('as another record type, is refused as a reused key', () => {
      given(history)
        .when({ ...retry, recordType: 'job' })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { webhookEventId: 'evt-1' });
    });
  });

  describe('when the API balance cannot pay for the event', () => {
    const twoCredits = [paidLot('lot-jan', 'api', 2, JAN)];
    const dispatch = dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'company', occurredAt: NOW });

    it('refuses the dispatch, charges nothing, and records the event as not triggered', () => {
      given(twoCredits)
        .when(dispatch)
        .thenRefuses(
          'CREDITS_INSUFFICIENT',
          { creditType: 'api', required: 3, available: 2, status: 'not_triggered' },
          [webhookNotTriggered(dispatch, 3, 2)],
        );
    });

    it('a job event the balance can pay is still dispatched', () => {
      const jobEvent = dispatchWebhook({ webhookEventId: 'evt-2', recordType: 'job', occurredAt: NOW });
      given(twoCredits).when(jobEvent).then([webhookDispatched(jobEvent, { unitPrice: 1 })]);
    });

    describe('and the same event is refused again', () => {
      const history = [...twoCredits, webhookNotTriggered(dispatch, 3, 2)];

      it('refuses again without recording it a second time', () => {
        given(history)
          .when({ ...dispatch, occurredAt: NOW + 60_000 })
          .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'api', required: 3, available: 2, status: 'not_triggered' });
      });

      it('under another webhook, is refused as a reused key', () => {
        given(history)
          .when({ ...dispatch, webhookId: 'wh-other', occurredAt: NOW + 60_000 })
          .thenRefuses('IDEMPOTENCY_KEY_REUSED', { webhookEventId: 'evt-1' });
      });
    });

    describe('and credits were bought since', () => {
      const topUpAt = NOW + 60_000;
      const history = [
        ...twoCredits,
        webhookNotTriggered(dispatch, 3, 2),
        paidLot('top-up', 'api', 100, topUpAt),
      ];
      const redispatch = { ...dispatch, occurredAt: topUpAt + 1000 };

      it('the same event is dispatched and charged', () => {
        given(history)
          .when(redispatch)
          .then([
            webhookDispatched(redispatch, {
              unitPrice: 3,
              allocations: [
                { purchaseId: 'lot-jan', credits: 2 },
                { purchaseId: 'top-up', credits: 1 },
              ],
            }),
          ])
          .andAnswers({ status: 'dispatched', creditsCharged: 3, balances: { api: { available: 99 }, company: { available: 0 } } });
      });

      it('and only once: its next retry charges nothing', () => {
        const dispatched = given(history).when(redispatch).decision.events;
        given([...history, ...dispatched])
          .when({ ...dispatch, occurredAt: topUpAt + 5000 })
          .thenNothing()
          .andAnswers({ creditsCharged: 3, balances: { api: { available: 99 }, company: { available: 0 } } });
      });
    });
  });

  describe('when the account has no history', () => {
    it('is refused as an unknown account', () => {
      given([])
        .when(dispatchWebhook({ webhookEventId: 'evt-1', recordType: 'job', occurredAt: NOW }))
        .thenRefuses('ACCOUNT_NOT_FOUND', { accountId: ACCOUNT });
    });
  });
});
