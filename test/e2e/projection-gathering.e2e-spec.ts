import { EVENT_STORE, type EventStore } from '#event-store';
import { PROJECTION_ENGINE, type ProjectionFollower } from '#ledger';
import { httpClient } from '../support/http.js';
import { ledgerOnLoopback, type LedgerOnLoopback } from '../support/ledger-on-loopback.js';

const TOKEN = 'gathering-token-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The read models follow commits in batches gathered while nobody waits (`LEDGER_PROJECTION_GATHER_MS`);
 * a query that must read its own write cuts the gathering short.
 */
describe.each([
  ['1000', true],
  ['5', false],
])('with LEDGER_PROJECTION_GATHER_MS=%s', (gatherMs, holdsBack) => {
  let ledger: LedgerOnLoopback;
  let client: ReturnType<typeof httpClient>;

  beforeAll(async () => {
    ledger = await ledgerOnLoopback('gathering', {
      LEDGER_PROJECTION_GATHER_MS: gatherMs,
      LEDGER_API_TOKENS: JSON.stringify([{ name: 'service', token: TOKEN, scopes: ['ledger:write', 'ledger:read'] }]),
    });
    client = httpClient(ledger.baseUrl, TOKEN);
  });

  afterAll(() => ledger.close());

  const charge = (requestId: string) => client.post('/v1/accounts/acct-g/record-charges', { requestId, endpoint: 'job_search', records: 1 });

  it(`${holdsBack ? 'holds' : 'does not hold'} commits back while nobody waits, and a balance read waits only for its own write`, async () => {
    const bought = await client.post('/v1/accounts/acct-g/purchases', { purchaseId: 'p-1', creditType: 'api', credits: 100, amountMinor: 1000, currency: 'USD' });
    expect(bought.status).toBe(201);
    expect((await charge('r-1')).status).toBe(200);
    // The first commit after a quiet moment is read at once; what follows it is gathered.
    await sleep(200);
    expect((await charge('r-2')).status).toBe(200);
    await sleep(300);
    const engine = ledger.app.get<ProjectionFollower>(PROJECTION_ENGINE);
    const head = (await ledger.app.get<EventStore>(EVENT_STORE).headPosition())!.commit;
    expect(engine.position() < head).toBe(holdsBack);

    const started = Date.now();
    const balance = await client.get('/v1/accounts/acct-g/balance');
    expect(balance.status).toBe(200);
    expect(balance.body).toMatchObject({ api: { available: 98 } });
    // Far less than the gathering left to run: the read cut it short.
    expect(Date.now() - started).toBeLessThan(300);
  });
});
