import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const TOKEN = 'two-instances-token-0123456789abcdef';
const TOKENS = JSON.stringify([{ name: 'gateway', token: TOKEN, scopes: ['ledger:write', 'ledger:read'] }]);

/**
 * Two ledger processes on one store, each with its own cached state: only the stream's expected
 * revision stands between them and an overspent balance.
 */
describe.each(STORE_MODES)('two app instances on one %s store', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let instances: LedgerProcess[] = [];

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-two-'));
    const env = { ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS, LEDGER_EXPIRY_SWEEP_INTERVAL_MS: '0' };
    instances = [await startLedger(env), await startLedger(env)];
  });

  afterAll(async () => {
    for (const instance of instances) await instance.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('64 clients, half on each instance, get exactly what the balance pays for, and each key once', async () => {
    const [a, b] = instances.map((i) => httpClient(i.url, TOKEN)) as [ReturnType<typeof httpClient>, ReturnType<typeof httpClient>];
    const account = `/v1/accounts/two-${Date.now().toString(36)}`;
    expect((await a.post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 90, amountMinor: 1, currency: 'USD' })).status).toBe(201);
    // Both instances hold the account's state before the race.
    expect((await b.get(`${account}/balance`)).body.api.available).toBe(90);

    const responses = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        (i % 2 ? a : b).post(`${account}/record-charges`, { requestId: `r-${i % 48}`, endpoint: 'company_search', records: 1 }),
      ),
    );
    expect(responses.filter((r) => r.status !== 200 && r.status !== 402).map((r) => r.text)).toEqual([]);
    // 48 distinct keys, 16 of them sent twice (once to each instance); 30 charges of 3 credits fit in 90.
    const chargedKeys = new Set(responses.filter((r) => r.status === 200 && r.body.creditsCharged === 3).map((r) => r.body.requestId));
    expect(chargedKeys.size).toBe(30);
    for (const r of responses.filter((x) => x.status === 200)) expect(chargedKeys.has(r.body.requestId)).toBe(true);
    expect(Math.min(...responses.filter((r) => r.status === 200).map((r) => r.body.balances.api.available))).toBe(0);
    for (const client of [a, b]) expect((await client.get(`${account}/balance`)).body.api.available).toBe(0);
    // The balance only goes down, so a key one instance charged is never refused by the other.
    const refusedKeys = responses.flatMap((r, i) => (r.status === 402 ? [`r-${i % 48}`] : []));
    expect(refusedKeys.filter((key) => chargedKeys.has(key))).toEqual([]);
  });

  it("answers from the store, not from a cache the other instance made stale: a retry, a charge, a refusal", async () => {
    const [a, b] = instances.map((i) => httpClient(i.url, TOKEN)) as [ReturnType<typeof httpClient>, ReturnType<typeof httpClient>];
    const account = `/v1/accounts/stale-${Date.now().toString(36)}`;
    const buy = (purchaseId: string) => ({ purchaseId, creditType: 'api', credits: 3, amountMinor: 1, currency: 'USD' });
    expect((await a.post(`${account}/purchases`, buy('first'))).status).toBe(201);
    expect((await a.post(`${account}/record-charges`, { requestId: 'drain', endpoint: 'company_search', records: 1 })).status).toBe(200);
    // a holds the account with nothing left; b buys and spends behind its back.
    expect((await b.post(`${account}/purchases`, buy('second'))).status).toBe(201);
    const charged = await b.post(`${account}/record-charges`, { requestId: 'on-b', endpoint: 'company_search', records: 1 });
    expect(charged.status).toBe(200);
    const retried = await a.post(`${account}/record-charges`, { requestId: 'on-b', endpoint: 'company_search', records: 1 });
    expect({ status: retried.status, body: retried.body }).toEqual({ status: 200, body: charged.body });
    expect((await a.post(`${account}/record-charges`, { requestId: 'on-a', endpoint: 'company_search', records: 1 })).status).toBe(402);
    expect((await b.post(`${account}/purchases`, buy('third'))).status).toBe(201);
    const paid = await a.post(`${account}/record-charges`, { requestId: 'on-a-again', endpoint: 'company_search', records: 1 });
    expect({ status: paid.status, available: paid.body.balances?.api.available }).toEqual({ status: 200, available: 0 });
  });
});
