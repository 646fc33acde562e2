import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.js';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const DAY = 86_400_000;
const TOKENS = {
  admin: 'usage-admin-token-0123456789abcdef',
  reader: 'usage-reader-token-0123456789abcdef',
  auditor: 'usage-auditor-token-0123456789abcdef',
};
const API_TOKENS = JSON.stringify([
  { name: 'billing', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'ledger:admin'] },
  { name: 'dashboard', token: TOKENS.reader, scopes: ['ledger:read'] },
  { name: 'finance', token: TOKENS.auditor, scopes: ['audit:read'] },
]);

// Three days before today (UTC), so every seeded event is recent enough to be in the default range.
const D0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const at = (day: number, hours: number) => new Date(D0 + day * DAY + hours * 3_600_000).toISOString();
const date = (day: number) => new Date(D0 + day * DAY).toISOString().slice(0, 10);

describe.each(STORE_MODES)('the usage page (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let reader: ReturnType<typeof httpClient>;
  let browser: Browser;
  const account = `usage-${Date.now().toString(36)}`;
  const base = `/v1/accounts/${account}`;

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-usage-'));
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    reader = httpClient(ledger.url, TOKENS.reader);
    const post = async (path: string, body: object) => {
      const response = await admin.post(`${base}/${path}`, body);
      if (response.status >= 300) throw new Error(`${path}: ${response.status} ${response.text}`);
    };
    await post('purchases', { purchaseId: 'api-pack', creditType: 'api', credits: 5000, amountMinor: 9900, currency: 'USD', invoiceId: 'inv-1', occurredAt: at(0, 1) });
    await post('purchases', { purchaseId: 'co-pack', creditType: 'company', credits: 100, amountMinor: 4900, currency: 'USD', occurredAt: at(0, 1.5) });
    // Day 0, 02:00 UTC: still the previous day in New York.
    await post('record-charges', { requestId: 'r-1', endpoint: 'job_search', records: 10, apiKeyId: 'key-a', userId: 'ana', occurredAt: at(0, 2) });
    await post('record-charges', { requestId: 'r-2', endpoint: 'company_search', records: 4, apiKeyId: 'key-b', occurredAt: at(0, 15) });
    await post('reveals', { requestId: 'v-1', companyIds: ['c1', 'c2', 'c3'], action: 'reveal', userId: 'ben', occurredAt: at(1, 10) });
    await post('reveals', { requestId: 'v-2', companyIds: ['c1', 'c4'], action: 'export', occurredAt: at(1, 11) });
    await post('record-charges', { requestId: 'r-3', endpoint: 'technographics', records: 2, occurredAt: at(1, 12) });
    await post('record-charges', { requestId: 'r-none', endpoint: 'job_search', records: 0, occurredAt: at(1, 13) });
    await post('webhook-dispatches', { webhookEventId: 'e-1', webhookId: 'wh-jobs', recordType: 'job', occurredAt: at(2, 9) });
    await post('webhook-dispatches', { webhookEventId: 'e-2', webhookId: 'wh-companies', recordType: 'company', occurredAt: at(2, 10) });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts credits per day by source, requests, webhooks, users and API keys (UTC)', async () => {
    const usage = await reader.get(`${base}/usage?from=${date(-1)}&to=${date(2)}`);
    expect(usage.status).toBe(200);
    expect(usage.body.days.map((d: { date: string }) => d.date)).toEqual([date(-1), date(0), date(1), date(2)]);
    const [before, day0, day1, day2] = usage.body.days;
    expect(before.credits).toEqual({ api: 0, company: 0 });
    expect(day0).toMatchObject({ credits: { api: 22, company: 0 }, requests: 2 });
    expect(day0.bySource).toMatchObject({ job_search: 10, company_search: 12 });
    expect(day1).toMatchObject({ credits: { api: 6, company: 4 }, requests: 3 });
    expect(day1.bySource).toMatchObject({ reveals: 3, exports: 1, technographics: 6 });
    expect(day2).toMatchObject({ credits: { api: 4, company: 0 }, webhookEvents: { dispatched: 2, not_triggered: 0 } });
    expect(usage.body.totals.credits).toEqual({ api: 32, company: 4 });
    expect(usage.body.webhooks).toEqual([
      { webhookId: 'wh-companies', dispatched: 1, not_triggered: 0 },
      { webhookId: 'wh-jobs', dispatched: 1, not_triggered: 0 },
    ]);
    expect(usage.body.byApiKey).toEqual([{ apiKeyId: 'key-a', api: 10 }, { apiKeyId: 'key-b', api: 12 }]);
    expect(usage.body.byUser).toEqual(expect.arrayContaining([{ userId: 'ana', api: 10, company: 0 }, { userId: 'ben', api: 0, company: 3 }]));
    expect(usage.body.balances.api.available).toBe(5000 - 32);
    expect(usage.body.purchases.map((p: { purchaseId: string }) => p.purchaseId)).toEqual(['co-pack', 'api-pack']);
  });

  it('counts days in the time zone asked for', async () => {
    const usage = await reader.get(`${base}/usage?from=${date(-1)}&to=${date(0)}&timezone=America/New_York`);
    expect(usage.status).toBe(200);
    const [before, day0] = usage.body.days;
    expect(before.credits.api).toBe(10); // 02:00 UTC is the evening before in New York
    expect(day0.credits.api).toBe(12);
  });

  it('exports the same figures as CSV', async () => {
    const csv = await reader.get(`${base}/usage?from=${date(0)}&to=${date(2)}`, { headers: { accept: 'text/csv' } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines).toHaveLength(1 + 3 + 1);
    expect(lines[1]).toMatch(new RegExp(`^${date(0)},22,0,`));
    expect(lines[4]).toMatch(/^total,32,4,/);
  });

  it('refuses a bad range or time zone with the fields, and an unknown account with 404', async () => {
    const bad = await reader.get(`${base}/usage?from=${date(2)}&to=${date(0)}&timezone=Mars/Olympus`);
    expect(bad.status).toBe(400);
    expect(bad.body.fields.map((f: { field: string }) => f.field)).toEqual(['timezone']);
    const backwards = await reader.get(`${base}/usage?from=${date(2)}&to=${date(0)}`);
    expect(backwards.body.fields[0].field).toBe('from');
    const tooLong = await reader.get(`${base}/usage?from=2020-01-01&to=2024-01-01`);
    expect(tooLong.status).toBe(400);
    expect((await reader.get('/v1/accounts/nobody/usage')).status).toBe(404);
    const noLink = await reader.post('/v1/accounts/nobody/usage-page-links', {});
    expect([noLink.status, noLink.body.code]).toEqual([404, 'ACCOUNT_NOT_FOUND']);
  });

  it('serves the page through a signed link: the chart has a bar group per day, and a new range redraws it', async () => {
    const link = await reader.post(`${base}/usage-page-links`, {});
    expect(link.status).toBe(201);
    expect(new Date(link.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const page = await browser.newPage();
    const response = await page.goto(link.body.url);
    expect(response?.status()).toBe(200);
    expect(await page.locator('svg g.day').count()).toBe(30);

    await page.fill('input[name="from"]', date(0));
    await page.fill('input[name="to"]', date(2));
    await Promise.all([page.waitForURL(/from=/), page.locator('form button[type="submit"], form input[type="submit"]').first().click()]);
    expect(page.url()).toContain(`from=${date(0)}`);
    expect(await page.locator('svg g.day').count()).toBe(3);
    expect(await page.locator(`svg g.day[data-date="${date(0)}"]`).count()).toBe(1);
    await page.close();
  });

  it('lists the open reveal windows, soonest to close first', async () => {
    const windows = await reader.get(`${base}/reveals`);
    expect(windows.status).toBe(200);
    expect(windows.body.windows.map((w: { companyId: string }) => w.companyId)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(windows.body.windows[0]).toEqual({ companyId: 'c1', revealedAt: at(1, 10), windowEndsAt: new Date(Date.parse(at(1, 10)) + 90 * DAY).toISOString(), action: 'reveal' });
    expect((await reader.get('/v1/accounts/nobody/reveals')).status).toBe(404);
  });

  it('leaves out the windows that closed, and those of an account whose id this one begins', async () => {
    const other = `${account}-old`;
    const days = (n: number) => new Date(Date.now() - n * DAY).toISOString();
    await admin.post(`/v1/accounts/${other}/purchases`, { purchaseId: 'p', creditType: 'company', credits: 10, amountMinor: 100, currency: 'USD', occurredAt: days(200) });
    await admin.post(`/v1/accounts/${other}/reveals`, { requestId: 'long-ago', companyIds: ['closed-1', 'closed-2'], action: 'reveal', occurredAt: days(120) });
    await admin.post(`/v1/accounts/${other}/reveals`, { requestId: 'lately', companyIds: ['open-1'], action: 'export', occurredAt: days(1) });
    const windows = await reader.get(`/v1/accounts/${other}/reveals`);
    expect(windows.body.windows.map((w: { companyId: string }) => w.companyId)).toEqual(['open-1']);
    // The first account's list is unchanged by the other's windows.
    expect((await reader.get(`${base}/reveals`)).body.windows.map((w: { companyId: string }) => w.companyId)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('gives finance the balance as of a past instant under audit:read', async () => {
    const auditor = httpClient(ledger.url, TOKENS.auditor);
    const asOf = encodeURIComponent(at(0, 3));
    const balance = await auditor.get(`/v1/audit/accounts/${account}/balance?asOf=${asOf}`);
    expect(balance.status).toBe(200);
    expect(balance.body.api.available).toBe(5000 - 10);
    expect((await auditor.get(`${base}/balance`)).status).toBe(403);
    expect((await reader.get(`/v1/audit/accounts/${account}/balance?asOf=${asOf}`)).status).toBe(403);
  });

  it('refuses a link that was tampered with or is for another account', async () => {
    const link = await reader.post(`${base}/usage-page-links`, {});
    const url = new URL(link.body.url);
    const tampered = new URL(url);
    tampered.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 60_000));
    const other = new URL(url);
    other.pathname = '/usage-page/someone-else';
    for (const target of [tampered, other]) {
      const response = await fetch(target);
      expect(response.status).toBe(403);
      expect(((await response.json()) as { code: string }).code).toBe('LINK_INVALID');
    }
    const unsigned = await fetch(new URL(`/usage-page/${account}`, ledger.url));
    expect(unsigned.status).toBe(403);
  });
});
