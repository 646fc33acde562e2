import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { EVENT_STORE, type EventStore } from '#event-store';
import { PROJECTION_ENGINE, type ProjectionFollower } from '#ledger';
import { readConfig } from '../../apps/ledger/src/config/ledger.config.js';
import { createLedgerApp } from '../../apps/ledger/src/ledger.app.js';

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
  let dataDir: string;
  let app: NestFastifyApplication;
  let baseUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-gathering-'));
    const config = readConfig({
      LEDGER_DATA_DIR: dataDir,
      LEDGER_PROJECTION_GATHER_MS: gatherMs,
      LEDGER_API_TOKENS: JSON.stringify([{ name: 'service', token: TOKEN, scopes: ['ledger:write', 'ledger:read'] }]),
    });
    app = await createLedgerApp(config, { logLevel: 'silent' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await app.getUrl();
  });

  afterAll(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const charge = (requestId: string) => send('POST', '/v1/accounts/acct-g/record-charges', { requestId, endpoint: 'job_search', records: 1 });

  it(`${holdsBack ? 'holds' : 'does not hold'} commits back while nobody waits, and a balance read waits only for its own write`, async () => {
    expect((await send('POST', '/v1/accounts/acct-g/purchases', { purchaseId: 'p-1', creditType: 'api', credits: 100, amountMinor: 1000, currency: 'USD' })).status).toBe(201);
    expect((await charge('r-1')).status).toBe(200);
    // The first commit after a quiet moment is read at once; what follows it is gathered.
    await sleep(200);
    expect((await charge('r-2')).status).toBe(200);
    await sleep(300);
    const engine = app.get<ProjectionFollower>(PROJECTION_ENGINE);
    const head = (await app.get<EventStore>(EVENT_STORE).headPosition())!.commit;
    expect(engine.position() < head).toBe(holdsBack);

    const started = Date.now();
    const balance = await send('GET', '/v1/accounts/acct-g/balance');
    expect(balance.status).toBe(200);
    expect(balance.json).toMatchObject({ api: { available: 98 } });
    // Far less than the gathering left to run: the read cut it short.
    expect(Date.now() - started).toBeLessThan(300);
  });
});
