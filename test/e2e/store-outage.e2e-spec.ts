import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbTestServer } from '../esdb-test-server/esdb-test-server.js';
import { chargesByRequestId, chargeWhile, retryUntilAcked } from '../support/charge-load.js';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';

const TOKEN = 'outage-token-0123456789abcdefghijkl';
const TOKENS = JSON.stringify([{ name: 'gateway', token: TOKEN, scopes: ['ledger:write', 'ledger:read', 'audit:read'] }]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * EventStoreDB goes away in the middle of the load and comes back: commands get 503 with Retry-After,
 * the app recovers by itself, nothing acknowledged is lost and nothing retried is doubled. Runs against
 * the test server, which can be stopped and restarted on its port with its log intact.
 */
describe('the event store going away under load', () => {
  let server: EsdbTestServer;
  let dataDir: string;
  let ledger: LedgerProcess;

  afterAll(async () => {
    await ledger?.stop();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After while it is gone, recovers, and every charge lands exactly once', async () => {
    server = await EsdbTestServer.start();
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-outage-'));
    ledger = await startLedger({
      LEDGER_STORE: 'eventstoredb',
      EVENTSTORE_CONNECTION_STRING: server.connectionString,
      LEDGER_DATA_DIR: dataDir,
      LEDGER_API_TOKENS: TOKENS,
    });
    const client = httpClient(ledger.url, TOKEN);
    const account = `/v1/accounts/outage-${Date.now().toString(36)}`;
    expect((await client.post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 100_000, amountMinor: 1, currency: 'USD' })).status).toBe(201);

    const outcome = await chargeWhile(client, account, async () => {
      await sleep(300);
      await server.stop();
      await sleep(700);
      await server.restart();
      await sleep(1500);
    });

    expect(outcome.unavailable.length).toBeGreaterThan(0);
    expect(outcome.unavailable.every((u) => u.retryAfter === '1' && u.code === 'STORE_UNAVAILABLE')).toBe(true);
    expect(outcome.acked.size).toBeGreaterThan(0);

    // The app is back by itself; every refused charge is retried with its key.
    await retryUntilAcked(client, account, outcome);
    const acked = outcome.acked;
    const charged = await chargesByRequestId(client, account);
    expect([...charged.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(charged.keys())).toEqual(acked);
    expect((await client.get(`${account}/balance`)).body.api.available).toBe(100_000 - acked.size);
  }, 60_000);
});
