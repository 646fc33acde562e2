import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CREDIT_ACCOUNT_EVENT_TYPES } from '#domain';
import { LEDGER_PROJECTIONS } from '#ledger';
import { httpClient } from '../support/http.js';
import { runLedgerCli, startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const TOKEN = 'cli-admin-token-0123456789abcdef';
const TOKENS = JSON.stringify([{ name: 'admin', token: TOKEN, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] }]);


const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;

describe.each(STORE_MODES)('the ledger command-line tool (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let env: Record<string, string>;
  let ledger: LedgerProcess;
  let client: ReturnType<typeof httpClient>;
  const accounts = [0, 1, 2].map((i) => `cli-${i}-${Date.now().toString(36)}`);

  beforeAll(async () => {
    store = await storeUnderTest(mode);
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-cli-'));
    env = { ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS };
    ledger = await startLedger(env);
    client = httpClient(ledger.url, TOKEN);
    for (const account of accounts) {
      await client.post(`/v1/accounts/${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 10_000, amountMinor: 100, currency: 'USD' });
      await client.post(`/v1/accounts/${account}/purchases`, { purchaseId: 'pc', creditType: 'company', credits: 50, amountMinor: 100, currency: 'USD' });
      for (let i = 0; i < 30; i++) {
        await client.post(`/v1/accounts/${account}/record-charges`, { requestId: `r-${i}`, endpoint: i % 2 ? 'job_search' : 'company_search', records: 3 });
      }
      await client.post(`/v1/accounts/${account}/reveals`, { requestId: 'rv', companyIds: ['c1', 'c2'], action: 'reveal' });
    }
    // Every other kind of event, so replay and verify are proven on all of them.
    const lifecycle = `/v1/accounts/${accounts[1]}`;
    const must = async (response: Promise<{ status: number; text: string }>) => {
      const { status, text } = await response;
      if (status >= 300 && status !== 402) throw new Error(`${status} ${text}`);
    };
    await must(client.post(`${lifecycle}/purchases`, { purchaseId: 'refund-me', creditType: 'api', credits: 10, amountMinor: 100, currency: 'USD' }));
    await must(client.post(`${lifecycle}/refunds`, { purchaseId: 'refund-me', reason: 'test' }));
    await must(client.post(`${lifecycle}/adjustments`, { adjustmentId: 'a1', creditType: 'api', credits: 7, reason: 'grant' }));
    await must(client.post(`${lifecycle}/adjustments`, { adjustmentId: 'a2', creditType: 'api', credits: -3, reason: 'removal' }));
    await must(client.call('PUT', `${lifecycle}/auto-recharge-rules/api`, { body: { threshold: 9_960, credits: 100 } }));
    await must(client.call('PUT', `${lifecycle}/balance-alerts/api`, { body: { consumedPercents: [], availableBelow: 9_810 } }));
    await must(client.post(`${lifecycle}/record-charges`, { requestId: 'crossing', endpoint: 'job_search', records: 20 }));
    await must(client.post(`${lifecycle}/auto-recharges/ar-api-1/failures`, { reason: 'declined' }));
    await must(client.post(`${lifecycle}/webhook-dispatches`, { webhookEventId: 'w1', webhookId: 'wh', recordType: 'job' }));
    await must(client.post(`${lifecycle}/reveals`, { requestId: 'free', companyIds: ['c1'], action: 'export' }));
    const expired = `/v1/accounts/${accounts[2]}-expired`;
    await must(client.post(`${expired}/purchases`, { purchaseId: 'old-trial', creditType: 'company', credits: 5, paid: false, source: 'trial', expiresAt: new Date(Date.now() - 86_400_000).toISOString(), occurredAt: new Date(Date.now() - 2 * 86_400_000).toISOString() }));
    // The next command after the expiry records it first (CreditsExpired at the expiry instant).
    await must(client.post(`${expired}/purchases`, { purchaseId: 'new-pack', creditType: 'company', credits: 5, amountMinor: 100, currency: 'USD' }));
    await must(client.post(`${expired}/reveals`, { requestId: 'after-expiry', companyIds: ['c9'], action: 'reveal' }));
    await must(client.post(`${expired}/webhook-dispatches`, { webhookEventId: 'w-none', webhookId: 'wh', recordType: 'job' })); // not triggered
    await must(client.call('DELETE', `${lifecycle}/auto-recharge-rules/api`));
  });

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('verify proves the read models and balances equal what the events say', async () => {
    const result = await runLedgerCli(['verify'], env);
    // Nothing on stderr but its progress, in accounts, ending with all of them.
    const progress = result.stderr.trimEnd().split('\n');
    for (const line of progress) expect(line).toMatch(/^verify \[[#-]{30}\] +\d+\.\d%  [\d,]+ events  [\d,]+ ev\/s  ETA \S+$/);
    expect(progress.at(-1)).toMatch(/ 100\.0% .* ETA done$/);
    expect(result.code).toBe(0);
    expect(lastJson(result.stdout)).toMatchObject({ ok: true, accounts: 4, differences: 0 });
    expect(Number(lastJson(result.stdout).events)).toBeGreaterThanOrEqual(3 * 34);
  });

  it('replay rebuilds every projection while the app keeps serving and charging, then swaps', async () => {
    const charging = (async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const charge = await client.post(`/v1/accounts/${accounts[0]}/record-charges`, { requestId: `during-${i}`, endpoint: 'job_search', records: 1 });
        const balance = await client.get(`/v1/accounts/${accounts[0]}/balance`);
        statuses.push(charge.status, balance.status);
      }
      return statuses;
    })();
    const result = await runLedgerCli(['replay'], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`replay ${LEDGER_PROJECTIONS.map((p) => p.name).join(',')} \\[#+\\] 100\\.0%.*ev/s.*ETA`));
    expect(lastJson(result.stdout)).toMatchObject({ command: 'replay', projections: LEDGER_PROJECTIONS.map((p) => p.name) });
    expect((await charging).every((status) => status === 200)).toBe(true);

    const after = await client.get(`/v1/accounts/${accounts[0]}/balance`);
    const types = new Set((await client.get(`/v1/audit/events?limit=1000`)).body.events.map((e: { type: string }) => e.type));
    expect([...types].sort()).toEqual([...CREDIT_ACCOUNT_EVENT_TYPES].sort());
    expect(after.body.api.available).toBe(10_000 - 15 * 9 - 15 * 3 - 40);
    const verified = await runLedgerCli(['verify'], env);
    expect(lastJson(verified.stdout)).toMatchObject({ ok: true, differences: 0 });
  });

  it('verify lists a read model that disagrees with the events, and exits 1', async () => {
    const db = new Database(join(dataDir, 'read-models.sqlite'));
    const { table_name: table } = db.prepare("SELECT table_name FROM projection_state WHERE name = 'balances'").get() as { table_name: string };
    const row = db.prepare(`SELECT doc FROM "${table}" WHERE key = ?`).get(accounts[2]) as { doc: string };
    const doc = JSON.parse(row.doc) as { lots: { remaining: number }[] };
    doc.lots[0]!.remaining += 1000;
    db.prepare(`UPDATE "${table}" SET doc = ? WHERE key = ?`).run(JSON.stringify(doc), accounts[2]);
    db.close();

    const result = await runLedgerCli(['verify'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`DIFFERENCE balances[${accounts[2]}]`);
    expect(lastJson(result.stdout)).toMatchObject({ ok: false });

    // A replay repairs it.
    await runLedgerCli(['replay', '--projection', 'balances'], env);
    expect((await runLedgerCli(['verify'], env)).code).toBe(0);
  });

  it('verify lists a document whose index disagrees with it (the expiry sweep reads the index)', async () => {
    const db = new Database(join(dataDir, 'read-models.sqlite'));
    const { table_name: table } = db.prepare("SELECT table_name FROM projection_state WHERE name = 'balances'").get() as { table_name: string };
    db.prepare(`UPDATE "${table}" SET indexed = NULL WHERE key = ?`).run(accounts[1]);
    db.close();

    const result = await runLedgerCli(['verify'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`DIFFERENCE balances[${accounts[1]}]: indexed at null but its document says`);

    await runLedgerCli(['replay', '--projection', 'balances'], env);
    expect((await runLedgerCli(['verify'], env)).code).toBe(0);
  });

  it('exports every event of the ledger to a file, as NDJSON or CSV, and never overwrites one', async () => {
    const events = Number(lastJson((await runLedgerCli(['verify'], env)).stdout).events);
    const ndjson = join(dataDir, 'audit.ndjson');
    const asJson = await runLedgerCli(['export', '--out', ndjson, '--format', 'ndjson'], env);
    expect(asJson.code).toBe(0);
    expect(lastJson(asJson.stdout)).toMatchObject({ command: 'export', events });
    const lines = readFileSync(ndjson, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { position: string; accountId: string });
    expect(lines).toHaveLength(events);
    expect(new Set(lines.map((l) => l.accountId))).toEqual(new Set([...accounts, `${accounts[2]}-expired`]));
    const positions = lines.map((l) => BigInt(l.position.split(':')[0]!));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);

    const csv = join(dataDir, 'audit.csv');
    expect((await runLedgerCli(['export', '--out', csv, '--format', 'csv'], env)).code).toBe(0);
    const rows = readFileSync(csv, 'utf8').trim().split('\r\n');
    expect(rows[0]).toBe('position,stream,account,revision,type,occurred_at,credit_type,credits,data_json');
    expect(rows).toHaveLength(events + 1);

    expect((await runLedgerCli(['export', '--out', csv, '--format', 'csv'], env)).code).toBe(1);
  });

  it('refuses an unknown command or projection with a usage message', async () => {
    expect((await runLedgerCli(['rewind'], env)).code).toBe(64);
    const unknown = await runLedgerCli(['replay', '--projection', 'nope'], env);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('unknown projection: nope');
  });
});
