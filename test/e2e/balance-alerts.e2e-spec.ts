import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const TOKENS = { admin: 'alerts-admin-token-0123456789abcdef', app: 'alerts-app-token-0123456789abcdef0' };
const API_TOKENS = JSON.stringify([
  { name: 'admin', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'ledger:admin'] },
  { name: 'web-app', token: TOKENS.app, scopes: ['ledger:write', 'ledger:read'] },
]);

describe.each(STORE_MODES)('balance alerts and account activity (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let app: ReturnType<typeof httpClient>;
  const account = `alerts-${Date.now().toString(36)}`;
  const base = `/v1/accounts/${account}`;
  let n = 0;
  const charge = (records: number) => app.post(`${base}/record-charges`, { requestId: `r-${++n}`, endpoint: 'job_search', records });
  const ours = <T extends { accountId: string }>(alerts: T[]) => alerts.filter((a) => a.accountId === account);

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-alerts-'));
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    app = httpClient(ledger.url, TOKENS.app);
    await admin.post(`${base}/purchases`, { purchaseId: 'pack', creditType: 'api', credits: 200, amountMinor: 1900, currency: 'USD' });
  });

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sets the alerts of a credit type and reads them back', async () => {
    const set = await app.call('PUT', `${base}/balance-alerts/api`, { body: { consumedPercents: [100, 75], availableBelow: 30, userId: 'owner' } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ creditType: 'api', consumedPercents: [75, 100], availableBelow: 30 });
    expect((await app.call('PUT', `${base}/balance-alerts/api`, { body: { consumedPercents: [150] } })).status).toBe(400);
    const rules = await app.get(`${base}/balance-alerts`);
    expect(rules.body.rules).toEqual([
      { creditType: 'api', consumedPercents: [75, 100], availableBelow: 30 },
      { creditType: 'company', consumedPercents: [], availableBelow: null },
    ]);
  });

  it('raises one alert per crossing, in a feed the notification service pages through', async () => {
    await charge(140); // 70%
    await charge(20); // 80%: crosses 75%
    await charge(15); // 87.5%, available 25: crosses the floor of 30
    await charge(5); // nothing new
    await charge(20); // 100%
    const first = await app.get('/v1/balance-alerts?limit=1');
    expect(first.status).toBe(200);
    let alerts: { accountId: string; kind: string; threshold: number }[] = [...first.body.alerts];
    let next: string | null = first.body.next;
    while (next) {
      const page = await app.get(`/v1/balance-alerts?limit=1&after=${next}`);
      alerts = [...alerts, ...page.body.alerts];
      next = page.body.next;
    }
    expect(ours(alerts).map((a: { kind: string; threshold: number }) => [a.kind, a.threshold])).toEqual([
      ['consumed_percent', 75],
      ['available_below', 30],
      ['consumed_percent', 100],
    ]);
    expect(ours(alerts)[0]).toMatchObject({ consumed: 160, bought: 200, available: 40 });
    expect((await app.get('/v1/balance-alerts?after=abc')).status).toBe(400);
  });

  it('shows purchases, adjustments, refunds and alerts as account activity on the usage report and page', async () => {
    await admin.post(`${base}/adjustments`, { adjustmentId: 'adj-1', creditType: 'api', credits: 10, reason: 'goodwill after outage' });
    const usage = await app.get(`${base}/usage`);
    const types = usage.body.activity.map((a: { type: string }) => a.type);
    expect(types).toEqual(['CreditsPurchased', 'BalanceAlertRaised', 'BalanceAlertRaised', 'BalanceAlertRaised', 'CreditsAdjusted']);
    expect(usage.body.activity[4]).toMatchObject({ credits: 10, summary: 'Adjustment by admin: goodwill after outage' });

    const link = await app.post(`${base}/usage-page-links`, {});
    const html = await (await fetch(link.body.url)).text();
    expect(html).toContain('Account activity');
    expect(html).toContain('Alert: available balance below 30');
    expect(html).toContain('Adjustment by admin: goodwill after outage');
  });
});
