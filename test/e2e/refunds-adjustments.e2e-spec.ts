import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const DAY = 86_400_000;
const TOKENS = { admin: 'refund-admin-token-0123456789abcdef', gateway: 'refund-gateway-token-0123456789abcd' };
const API_TOKENS = JSON.stringify([
  { name: 'billing-admin', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] },
  { name: 'gateway', token: TOKENS.gateway, scopes: ['ledger:write', 'ledger:read'] },
]);

describe.each(STORE_MODES)('refunds and adjustments (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let gateway: ReturnType<typeof httpClient>;
  const account = `refunds-${Date.now().toString(36)}`;
  const base = `/v1/accounts/${account}`;
  const paidPack = (purchaseId: string, occurredAt?: string) =>
    admin.post(`${base}/purchases`, { purchaseId, creditType: 'api', credits: 100, amountMinor: 4900, currency: 'EUR', invoiceId: `inv-${purchaseId}`, ...(occurredAt ? { occurredAt } : {}) });
  const available = async () => (await gateway.get(`${base}/balance`)).body.api.available as number;

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-refunds-'));
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    gateway = httpClient(ledger.url, TOKENS.gateway);
    expect((await paidPack('old', new Date(Date.now() - 100 * DAY).toISOString())).status).toBe(201);
  });

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refunds an unused paid purchase: the lot leaves the balance, once', async () => {
    await paidPack('fresh');
    expect(await available()).toBe(200);
    const refunded = await admin.post(`${base}/refunds`, { purchaseId: 'fresh', reason: 'bought twice by mistake', userId: 'ops-ana' });
    expect(refunded.status).toBe(201);
    expect(refunded.body.refund).toMatchObject({ purchaseId: 'fresh', credits: 100, amountMinor: 4900, currency: 'EUR', invoiceId: 'inv-fresh', refundedBy: 'billing-admin/ops-ana' });
    expect(refunded.body.balances.api.available).toBe(100);
    expect(await available()).toBe(100);
    const retried = await admin.post(`${base}/refunds`, { purchaseId: 'fresh', reason: 'bought twice by mistake', userId: 'ops-ana' });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual(refunded.body);
    const usage = await gateway.get(`${base}/usage`);
    expect(usage.body.purchases.find((p: { purchaseId: string }) => p.purchaseId === 'fresh')).toMatchObject({ refunded: true });
    expect(usage.body.activity.map((a: { type: string }) => a.type)).toContain('PurchaseRefunded');
    const liability = await admin.get(`/v1/audit/liability`);
    expect(liability.body.lots.filter((l: { accountId: string }) => l.accountId === account).map((l: { purchaseId: string }) => l.purchaseId)).toEqual(['old']);
  });

  it('refuses a refund with 409 and the reason when credits were used, or the 90 days passed; 404 for no such purchase', async () => {
    await paidPack('used');
    await gateway.post(`${base}/record-charges`, { requestId: 'r-1', endpoint: 'job_search', records: 101 });
    const used = await admin.post(`${base}/refunds`, { purchaseId: 'used' });
    expect(used.status).toBe(409);
    expect(used.body).toMatchObject({ code: 'REFUND_NOT_ALLOWED', reason: 'credits_consumed', consumed: 1 });
    const late = await admin.post(`${base}/refunds`, { purchaseId: 'old' });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'REFUND_NOT_ALLOWED', reason: 'credits_consumed' });
    const unknown = await admin.post(`${base}/refunds`, { purchaseId: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('PURCHASE_NOT_FOUND');
  });

  it('refuses a refund after 90 days even when nothing was used', async () => {
    const other = `/v1/accounts/${account}-late`;
    await admin.post(`${other}/purchases`, { purchaseId: 'p', creditType: 'company', credits: 10, amountMinor: 100, currency: 'EUR', occurredAt: new Date(Date.now() - 91 * DAY).toISOString() });
    const late = await admin.post(`${other}/refunds`, { purchaseId: 'p' });
    expect(late.status).toBe(409);
    expect(late.body.reason).toBe('refund_window_passed');
  });

  it('grants and removes credits with a reason and the admin, never below zero', async () => {
    const before = await available();
    const granted = await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-1', creditType: 'api', credits: 50, reason: 'outage on 3 March', userId: 'ops-ana' });
    expect(granted.status).toBe(201);
    expect(granted.body.adjustment).toMatchObject({ credits: 50, reason: 'outage on 3 March', adjustedBy: 'billing-admin/ops-ana', lotId: 'adjustment:adj-1' });
    expect(await available()).toBe(before + 50);
    const tooMuch = await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-2', creditType: 'api', credits: -(before + 51), reason: 'clawback' });
    expect(tooMuch.status).toBe(402);
    expect(tooMuch.body).toMatchObject({ code: 'CREDITS_INSUFFICIENT', required: before + 51, available: before + 50 });
    const removed = await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-3', creditType: 'api', credits: -20, reason: 'duplicate grant' });
    expect(removed.status).toBe(201);
    expect(removed.body.adjustment.allocations.reduce((n: number, a: { credits: number }) => n + a.credits, 0)).toBe(20);
    expect(await available()).toBe(before + 30);

    const statement = await admin.get(`/v1/audit/accounts/${account}/statement?from=${encodeURIComponent(new Date(Date.now() - 200 * DAY).toISOString())}&to=${encodeURIComponent(new Date().toISOString())}`);
    expect(statement.status).toBe(200);
    const types = statement.body.movements.map((m: { type: string }) => m.type);
    expect(types).toEqual(expect.arrayContaining(['purchase', 'refund', 'charge', 'adjustment']));
    const sum = statement.body.movements.filter((m: { creditType: string }) => m.creditType === 'api').reduce((n: number, m: { credits: number }) => n + m.credits, 0);
    expect(statement.body.opening.api + sum).toBe(statement.body.closing.api);
  });

  it('asks for a reason and a non-zero amount, and the admin scope', async () => {
    const noReason = await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-x', creditType: 'api', credits: 5 });
    expect(noReason.status).toBe(400);
    expect(noReason.body.fields.map((f: { field: string }) => f.field)).toContain('reason');
    const zero = await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-y', creditType: 'api', credits: 0, reason: 'nothing' });
    expect(zero.status).toBe(400);
    expect((await gateway.post(`${base}/adjustments`, { adjustmentId: 'adj-z', creditType: 'api', credits: 5, reason: 'sneaky' })).status).toBe(403);
    expect((await gateway.post(`${base}/refunds`, { purchaseId: 'old' })).status).toBe(403);
  });
});
