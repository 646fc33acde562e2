import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { runLedgerCli, startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const DAY = 86_400_000;
const TOKEN = 'sweep-admin-token-0123456789abcdef';
const TOKENS = JSON.stringify([{ name: 'admin', token: TOKEN, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] }]);


describe.each(STORE_MODES)('expiry sweeps (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let client: ReturnType<typeof httpClient>;
  const run = Date.now().toString(36);
  const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 - DAY).toISOString();

  /** A trial of 200 credits, 25 of them spent, expiring at `expires` (in the past unless a sweep runs meanwhile). */
  async function seedTrial(accountId: string, expires = expiresAt) {
    const bought = await client.post(`/v1/accounts/${accountId}/purchases`, {
      purchaseId: 'trial',
      creditType: 'api',
      credits: 200,
      paid: false,
      source: 'trial',
      expiresAt: expires,
      occurredAt: new Date(Math.min(Date.now(), Date.parse(expires)) - 10 * DAY).toISOString(),
    });
    expect(bought.status).toBe(201);
    const charged = await client.post(`/v1/accounts/${accountId}/record-charges`, {
      requestId: 'r',
      endpoint: 'job_search',
      records: 25,
      occurredAt: new Date(Math.min(Date.now(), Date.parse(expires)) - 5 * DAY).toISOString(),
    });
    expect(charged.status).toBe(200);
  }

  const expiries = async (accountId: string) =>
    (await client.get(`/v1/accounts/${accountId}/events`)).body.events.filter((e: { type: string }) => e.type === 'CreditsExpired');

  beforeAll(async () => {
    store = await storeUnderTest(mode);
  });

  afterEach(async () => {
    await ledger?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await store?.stop();
  });

  it('the app records an idle account\'s expired remainder in the background, at the expiry instant, once', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-sweep-'));
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS, LEDGER_EXPIRY_SWEEP_INTERVAL_MS: '300' });
    client = httpClient(ledger.url, TOKEN);
    const account = `idle-${run}`;
    // Expiring a moment from now: a sweep running between the purchase and the charge finds nothing yet.
    const expiresSoon = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000).toISOString();
    await seedTrial(account, expiresSoon);

    const deadline = Date.now() + 10_000;
    while ((await expiries(account)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000)); // several more sweeps run meanwhile
    const recorded = await expiries(account);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ occurredAt: expiresSoon, data: { purchaseId: 'trial', credits: 175, paid: false, expiredAt: expiresSoon } });
    expect(recorded[0].metadata.actor.service).toBe('expiry-sweep');
  });

  it('the command-line sweep does the same beside a running app, and finds nothing the second time', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-sweep-'));
    const env = { ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS, LEDGER_EXPIRY_SWEEP_INTERVAL_MS: '0' };
    ledger = await startLedger(env);
    client = httpClient(ledger.url, TOKEN);
    const account = `cli-${run}`;
    await seedTrial(account);

    const first = await runLedgerCli(['sweep-expiries'], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout.trim())).toMatchObject({ command: 'sweep-expiries', lots: 1, credits: 175, failures: 0 });
    expect(await expiries(account)).toHaveLength(1);
    const second = await runLedgerCli(['sweep-expiries'], env);
    expect(JSON.parse(second.stdout.trim())).toMatchObject({ lots: 0, credits: 0 });
    expect(await expiries(account)).toHaveLength(1);
  });
});
