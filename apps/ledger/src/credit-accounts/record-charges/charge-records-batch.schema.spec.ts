import Fastify from 'fastify';
import { StoreUnavailableError } from '#event-store';
import {
  answer,
  decide,
  evolve,
  idempotencyKeyReused,
  initialState,
  insufficientCredits,
  type ChargeRecords,
  type CreditAccountState,
  type PurchaseCredits,
} from '#domain';
import { toProblem } from '../../problems/problem-details.filter.js';
import { validationProblem } from '../../problems/problem.js';
import { problemResult, type BatchResult } from './charge-records-batch.js';
import { CHARGE_RECORDS_BATCH_RESPONSE, CHARGE_RESULT_PROPERTIES } from './charge-records-batch.schema.js';

const AT = Date.parse('2026-03-01T10:00:00.000Z');

/** The domain's own answer to a charge, as the batch route gets it from the write path. */
function chargeAnswer(records: number, allowPartial = false) {
  const state: CreditAccountState = initialState();
  const purchase: PurchaseCredits = {
    type: 'PurchaseCredits', accountId: 'acme', purchaseId: 'p-1', creditType: 'api', credits: 10, paid: true, amountMinor: 1000, currency: 'USD', occurredAt: AT,
  };
  for (const event of decide(purchase, state).events) evolve(state, event);
  const charge: ChargeRecords = { type: 'ChargeRecords', accountId: 'acme', requestId: `r-${records}`, endpoint: 'company_search', records, allowPartial, occurredAt: AT + 1 };
  const decision = decide(charge, state);
  if (decision.refusal) throw decision.refusal;
  for (const event of decision.events) evolve(state, event);
  return answer(charge, state);
}

/** The body as the batch route writes it: through Fastify's serializer compiled from the route's schema. */
async function served(body: { results: BatchResult[] }): Promise<unknown> {
  const app = Fastify();
  app.post('/batch', { schema: { response: { 200: CHARGE_RECORDS_BATCH_RESPONSE } } }, async () => body);
  try {
    // Over a socket: Fastify's in-process injection does not load under the test runner's ES modules.
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const response = await fetch(`${url}/batch`, { method: 'POST' });
    expect(response.status).toBe(200);
    return JSON.parse(await response.text());
  } finally {
    await app.close();
  }
}

describe("the batch route's response schema", () => {
  it('names every property of the domain\'s answer to a charge, and nothing else', () => {
    const result = { accountId: 'acme', ...chargeAnswer(2) };
    expect(Object.keys(CHARGE_RESULT_PROPERTIES).sort()).toEqual(Object.keys(result).sort());
  });

  it('writes every kind of result exactly as JSON.stringify would', async () => {
    const results: BatchResult[] = [
      { index: 0, status: 200, result: { accountId: 'acme', ...chargeAnswer(2) }, replayed: false },
      { index: 1, status: 200, result: { accountId: 'acme', ...chargeAnswer(3) }, replayed: true },
      // Partial billing: fewer records billed than requested.
      { index: 2, status: 200, result: { accountId: 'acme', ...chargeAnswer(9, true) }, replayed: false },
      problemResult(3, toProblem(insufficientCredits('api', 30, 10))),
      problemResult(4, validationProblem([{ field: 'endpoint', message: 'endpoint must be one of job_search, company_search, technographics' }, { field: 'records', message: 'records must be "an integer" ≥ 0\n' }])),
      problemResult(5, toProblem(idempotencyKeyReused('requestId', 'r-"quoted"'))),
      problemResult(6, toProblem(new StoreUnavailableError('the event store is unavailable'))),
    ];
    const body = { results };
    expect(await served(body)).toEqual(JSON.parse(JSON.stringify(body)));
  });

  it('keeps numbers as they are (no rounding) and leaves out what a result does not have', async () => {
    const odd = { index: 7, status: 200, result: { accountId: 'acme', ...chargeAnswer(1), creditsCharged: 2.5 }, replayed: false } as unknown as BatchResult;
    const sparse = { index: 8, status: 404 } as unknown as BatchResult;
    const body = { results: [odd, sparse] };
    expect(await served(body)).toEqual(JSON.parse(JSON.stringify(body)));
  });
});
