import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const TOKENS = {
  admin: 'recharge-admin-token-0123456789abcdef',
  gateway: 'recharge-gateway-token-0123456789abc',
  billing: 'recharge-billing-token-0123456789abc',
};
const API_TOKENS = JSON.stringify([
  { name: 'admin', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'ledger:admin'] },
  { name: 'gateway', token: TOKENS.gateway, scopes: ['ledger:write', 'ledger:read'] },
  { name: 'billing', token: TOKENS.billing, scopes: ['ledger:write', 'ledger:read'] },
]);

describe.each(STORE_MODES)('auto recharge over HTTP (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let gateway: ReturnType<typeof httpClient>;
  let billing: ReturnType<typeof httpClient>;
  const account = `recharge-${Date.now().toString(36)}`;
  const base = `/v1/accounts/${account}`;
  let request = 0;
  const charge = (records: number) => gateway.post(`${base}/record-charges`, { requestId: `r-${++request}`, endpoint: 'job_search', records });
  const pending = async () => (await billing.get(`/v1/auto-recharges?accountId=${account}`)).body.requests as { autoRechargeId: string; credits: number; trigger: string }[];

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-recharge-'));
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    gateway = httpClient(ledger.url, TOKENS.gateway);
    billing = httpClient(ledger.url, TOKENS.billing);
    await admin.post(`${base}/purchases`, { purchaseId: 'first', creditType: 'api', credits: 100, amountMinor: 900, currency: 'USD' });
  });

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sets, reads and removes a rule per credit type (admin only)', async () => {
    expect((await gateway.call('PUT', `${base}/auto-recharge-rules/api`, { body: { threshold: 20, credits: 500 } })).status).toBe(403);
    const set = await admin.call('PUT', `${base}/auto-recharge-rules/company`, { body: { threshold: 5, credits: 50, monthlyCap: 2 } });
    expect(set.status).toBe(200);
    expect(set.body.rule).toEqual({ threshold: 5, credits: 50, monthlyCap: 2, enabled: true, consecutiveFailures: 0 });
    const removed = await admin.call('DELETE', `${base}/auto-recharge-rules/company`);
    expect(removed.body.rule).toBeNull();
    expect((await admin.call('PUT', `${base}/auto-recharge-rules/gold`, { body: { threshold: 5, credits: 50 } })).status).toBe(400);
    expect((await admin.call('PUT', `${base}/auto-recharge-rules/api`, { body: { threshold: -1, credits: 0 } })).status).toBe(400);
    await admin.call('PUT', `${base}/auto-recharge-rules/api`, { body: { threshold: 20, credits: 500 } });
    const rules = await admin.get(`${base}/auto-recharge-rules`);
    expect(rules.body.rules.map((r: { creditType: string; rule: unknown }) => [r.creditType, r.rule !== null])).toEqual([['api', true], ['company', false]]);
  });

  it('requests a recharge when a charge leaves the balance below the threshold; the billing service completes it', async () => {
    expect((await charge(85)).status).toBe(200);
    const requests = await pending();
    expect(requests).toEqual([expect.objectContaining({ autoRechargeId: 'ar-api-1', credits: 500, trigger: 'below_threshold', balance: 15, threshold: 20 })]);
    await charge(1);
    expect(await pending()).toHaveLength(1); // at most one outstanding

    const completion = { purchaseId: 'pay-1', creditType: 'api', credits: 500, source: 'auto_recharge', autoRechargeId: 'ar-api-1', amountMinor: 4500, currency: 'USD' };
    const completed = await billing.post(`${base}/purchases`, completion);
    expect(completed.status).toBe(201);
    expect(completed.body.balances.api.available).toBe(514);
    expect((await billing.post(`${base}/purchases`, completion)).status).toBe(200); // a retried completion
    expect(await pending()).toEqual([]);
    const done = await billing.get(`/v1/auto-recharges?status=completed&accountId=${account}`);
    expect(done.body.requests).toEqual([expect.objectContaining({ autoRechargeId: 'ar-api-1', purchaseId: 'pay-1', status: 'completed' })]);
    const again = await billing.post(`${base}/purchases`, { ...completion, purchaseId: 'pay-1-bis' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('AUTO_RECHARGE_NOT_PENDING');
  });

  it('requests one with a refused charge, says so in the 402, and three failures in a row disable the rule', async () => {
    const refused = await charge(10_000);
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ code: 'CREDITS_INSUFFICIENT', autoRechargeRequested: 'ar-api-2' });

    const failure = await billing.post(`${base}/auto-recharges/ar-api-2/failures`, { reason: 'card declined' });
    expect(failure.status).toBe(201);
    expect(failure.body.failure).toMatchObject({ consecutiveFailures: 1, ruleDisabled: false });
    expect((await billing.post(`${base}/auto-recharges/ar-api-2/failures`, { reason: 'card declined' })).status).toBe(200);

    await charge(10_000); // ar-api-3
    await billing.post(`${base}/auto-recharges/ar-api-3/failures`, { reason: 'card declined' });
    await charge(10_000); // ar-api-4
    const third = await billing.post(`${base}/auto-recharges/ar-api-4/failures`, { reason: 'card expired' });
    expect(third.body.failure).toMatchObject({ consecutiveFailures: 3, ruleDisabled: true });
    const rules = await admin.get(`${base}/auto-recharge-rules`);
    expect(rules.body.rules[0].rule).toMatchObject({ enabled: false, consecutiveFailures: 3 });

    const afterDisable = await charge(10_000);
    expect(afterDisable.body.autoRechargeRequested).toBeUndefined();
    expect((await billing.post(`${base}/auto-recharges/ar-api-9/failures`, {})).status).toBe(404);
  });

  it('lists the pending requests of every account, oldest first, and no settled one', async () => {
    const [b, c] = [`${account}-b`, `${account}-c`];
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
    for (const other of [b, c]) {
      await admin.post(`/v1/accounts/${other}/purchases`, { purchaseId: 'first', creditType: 'api', credits: 10, amountMinor: 90, currency: 'USD', occurredAt: at(120) });
      await admin.call('PUT', `/v1/accounts/${other}/auto-recharge-rules/api`, { body: { threshold: 5, credits: 100, occurredAt: at(110) } });
    }
    // c falls below its threshold before b does.
    await gateway.post(`/v1/accounts/${c}/record-charges`, { requestId: 'x', endpoint: 'job_search', records: 8, occurredAt: at(60) });
    await gateway.post(`/v1/accounts/${b}/record-charges`, { requestId: 'x', endpoint: 'job_search', records: 8, occurredAt: at(30) });

    const feed = async () => ((await billing.get('/v1/auto-recharges')).body.requests as { accountId: string; status: string }[]).filter((r) => r.accountId.startsWith(account));
    // The first account's requests all failed: not pending.
    expect(await feed()).toEqual([
      expect.objectContaining({ accountId: c, autoRechargeId: 'ar-api-1', status: 'pending' }),
      expect.objectContaining({ accountId: b, autoRechargeId: 'ar-api-1', status: 'pending' }),
    ]);

    await billing.post(`/v1/accounts/${c}/purchases`, { purchaseId: 'pay-c', creditType: 'api', credits: 100, source: 'auto_recharge', autoRechargeId: 'ar-api-1', amountMinor: 900, currency: 'USD' });
    expect(await feed()).toEqual([expect.objectContaining({ accountId: b, status: 'pending' })]);
    const failed = (await billing.get('/v1/auto-recharges?status=failed')).body.requests as { accountId: string; autoRechargeId: string }[];
    expect(failed.filter((r) => r.accountId === account).map((r) => r.autoRechargeId)).toEqual(['ar-api-2', 'ar-api-3', 'ar-api-4']);
  });
});
