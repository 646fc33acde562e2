import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chargesByRequestId } from '../support/charge-load.js';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';

const ADMIN = 'ops-admin-token-0123456789abcdefghijk';
const GATEWAY = 'ops-gateway-token-0123456789abcdefghij';
const SLOW = 'ops-throttled-token-0123456789abcdefgh';
const TOKENS = JSON.stringify([
  { name: 'admin', token: ADMIN, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] },
  { name: 'gateway', token: GATEWAY, scopes: ['ledger:write', 'ledger:read'] },
  { name: 'throttled', token: SLOW, scopes: ['ledger:write', 'ledger:read'], rateLimit: 3 },
]);
const UNKNOWN = 'not-a-known-token-0123456789abcdefghijkl';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Parses the Prometheus text format into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** What an operator runs the ledger with: logs, metrics, probes, limits, an API description, a clean stop. */
describe('operating the ledger', () => {
  let dataDir: string;
  let ledger: LedgerProcess;
  const env = () => ({
    LEDGER_DATA_DIR: dataDir,
    LEDGER_API_TOKENS: TOKENS,
    LEDGER_RATE_LIMIT_WINDOW_SECONDS: '60',
    LEDGER_PUBLIC_URL: 'https://ledger.example.com/billing',
  });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-ops-'));
    ledger = await startLedger(env());
  });

  afterAll(async () => {
    await ledger?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs one JSON line per request with its correlation id, which the events carry too, and never a token', async () => {
    const client = httpClient(ledger.url, GATEWAY);
    const bought = await client.post('/v1/accounts/ops-logs/purchases', { purchaseId: 'p', creditType: 'api', credits: 10, amountMinor: 100, currency: 'USD' }, {
      headers: { 'x-correlation-id': 'checkout-42' },
    });
    expect(bought.status).toBe(201);
    expect(bought.headers.get('x-correlation-id')).toBe('checkout-42');
    const generated = await client.post('/v1/accounts/ops-logs/record-charges', { requestId: 'r1', endpoint: 'job_search', records: 1 });
    expect(generated.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    // A hostile correlation id is replaced, not logged.
    const hostile = await client.post('/v1/accounts/ops-logs/record-charges', { requestId: 'r2', endpoint: 'job_search', records: 1 }, {
      headers: { 'x-correlation-id': 'a"b\\n{injected}' },
    });
    expect(hostile.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.get('/v1/accounts/ops-logs/balance', { token: UNKNOWN })).status).toBe(401);

    const events = await httpClient(ledger.url, ADMIN).get('/v1/audit/events?limit=100');
    const purchase = events.body.events.find((e: { type: string; streamId?: string; metadata: { correlationId: string } }) => e.type === 'CreditsPurchased');
    expect(purchase.metadata.correlationId).toBe('checkout-42');

    await sleep(600); // the log is written asynchronously, at least every 200 ms
    const lines = ledger.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(ledger.output.filter((line) => line.startsWith('{')).length).toBe(lines.length);
    const access = lines.filter((l) => l.msg === 'request');
    expect(access.find((l) => l.correlationId === 'checkout-42')).toMatchObject({
      level: 'info',
      method: 'POST',
      route: '/v1/accounts/:accountId/purchases',
      status: 201,
      actor: 'gateway',
    });
    expect(access.find((l) => l.correlationId === generated.headers.get('x-correlation-id'))).toMatchObject({ status: 200 });
    expect(access.some((l) => l.status === 401)).toBe(true);
    const everything = ledger.output.join('\n');
    for (const secret of [ADMIN, GATEWAY, SLOW, UNKNOWN]) expect(everything).not.toContain(secret);
    expect(everything).not.toContain('{injected}');
  });

  it('exposes Prometheus metrics: latencies, charges and credits by source, appends, auto-recharge requests, projection lag', async () => {
    const admin = httpClient(ledger.url, ADMIN);
    const base = '/v1/accounts/ops-metrics';
    await admin.post(`${base}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 20, amountMinor: 100, currency: 'USD' });
    await admin.post(`${base}/purchases`, { purchaseId: 'c', creditType: 'company', credits: 5, paid: false, source: 'trial', expiresAt: '2099-01-01T00:00:00Z' });
    expect((await admin.call('PUT', `${base}/auto-recharge-rules/api`, { body: { threshold: 5, credits: 100 } })).status).toBe(200);
    expect((await admin.post(`${base}/record-charges`, { requestId: 'j', endpoint: 'job_search', records: 4 })).status).toBe(200);
    expect((await admin.post(`${base}/record-charges`, { requestId: 'c', endpoint: 'company_search', records: 2 })).status).toBe(200);
    expect((await admin.post(`${base}/reveals`, { requestId: 'rv', companyIds: ['acme', 'globex'], action: 'reveal' })).status).toBe(200);
    expect((await admin.post(`${base}/webhook-dispatches`, { webhookEventId: 'w1', webhookId: 'hook', recordType: 'company' })).status).toBe(200);
    // 20 - 4 - 6 - 3 = 7 left; this one is refused and records an auto-recharge request.
    expect((await admin.post(`${base}/record-charges`, { requestId: 'big', endpoint: 'job_search', records: 50 })).status).toBe(402);

    const response = await fetch(new URL('/metrics', ledger.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const metrics = samples(await response.text());
    const value = (key: string) => metrics.get(key) ?? 0;
    expect(value('ledger_charges_total{credit_type="api",source="job_search"}')).toBeGreaterThanOrEqual(1);
    expect(value('ledger_credits_charged_total{credit_type="api",source="company_search"}')).toBeGreaterThanOrEqual(6);
    expect(value('ledger_credits_charged_total{credit_type="company",source="reveal"}')).toBeGreaterThanOrEqual(2);
    expect(value('ledger_credits_charged_total{credit_type="api",source="webhook"}')).toBeGreaterThanOrEqual(3);
    expect(value('ledger_credits_added_total{credit_type="company",source="trial"}')).toBeGreaterThanOrEqual(5);
    expect(value('ledger_auto_recharge_requests_total{credit_type="api",trigger="charge_refused"}')).toBe(1);
    expect(value('ledger_command_duration_seconds_count{command="ChargeRecords",outcome="recorded"}')).toBeGreaterThanOrEqual(2);
    expect(value('ledger_command_duration_seconds_count{command="ChargeRecords",outcome="refused"}')).toBe(1);
    expect(value('ledger_store_append_duration_seconds_count{outcome="ok"}')).toBeGreaterThanOrEqual(7);
    expect(value('ledger_http_request_duration_seconds_count{method="POST",route="/v1/accounts/:accountId/reveals",status="200"}')).toBe(1);
    expect(metrics.has('ledger_projection_lag_seconds')).toBe(true);
    expect(value('ledger_projections_paused')).toBe(0);
    expect(value('ledger_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('signs usage-page links for the public URL people reach it at, and keeps their signatures out of the log', async () => {
    const link = await httpClient(ledger.url, GATEWAY).post('/v1/accounts/ops-logs/usage-page-links', {});
    expect(link.body.url).toMatch(/^https:\/\/ledger\.example\.com\/billing\/usage-page\/ops-logs\?exp=\d+&sig=/);
    const signed = new URL(link.body.url);
    const sig = signed.searchParams.get('sig')!;
    const served = await fetch(new URL(`/usage-page/ops-logs${signed.search}&timezone=UTC`, ledger.url));
    expect(served.status).toBe(200);

    await sleep(600); // the log is written asynchronously, at least every 200 ms
    const access = ledger.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'request');
    const logged = access.find((l) => l.route === '/usage-page/:accountId');
    // Whoever reads the log cannot open the page: the signature is all the link's holder has to show.
    expect(logged).toMatchObject({ status: 200, url: `/usage-page/ops-logs?exp=${signed.searchParams.get('exp')}&sig=[redacted]&timezone=UTC` });
    expect(ledger.output.join('\n')).not.toContain(sig);
  });

  it('answers health and readiness probes without a token', async () => {
    const health = await fetch(new URL('/health', ledger.url));
    expect(health.status).toBe(200);
    const ready = await fetch(new URL('/ready', ledger.url));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', projections: { lagSeconds: expect.any(Number) } });
  });

  it('limits each token to its quota with 429 and RateLimit header fields; a refused command writes nothing', async () => {
    const throttled = httpClient(ledger.url, SLOW);
    const base = '/v1/accounts/ops-limits';
    await httpClient(ledger.url, ADMIN).post(`${base}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 100, amountMinor: 100, currency: 'USD' });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await throttled.post(`${base}/record-charges`, { requestId: `t${i}`, endpoint: 'job_search', records: 1 }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers[0]!.headers.get('ratelimit-policy')).toBe('"per-token";q=3;w=60');
    expect(answers[2]!.headers.get('ratelimit')).toMatch(/^"per-token";r=0;t=\d+$/);
    const refused = answers[3]!;
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Other tokens keep their own quota; the refused charge was never recorded.
    const gateway = httpClient(ledger.url, GATEWAY);
    expect((await gateway.get(`${base}/balance`)).body.api.available).toBe(97);
    expect([...(await chargesByRequestId(httpClient(ledger.url, ADMIN), base)).keys()].sort()).toEqual(['t0', 't1', 't2']);
  });

  it('describes its API in an OpenAPI document generated from the controllers and the DTOs', async () => {
    const ui = await fetch(new URL('/docs', ledger.url));
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toContain('text/html');
    const document = (await (await fetch(new URL('/docs/json', ledger.url))).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security: unknown[]; requestBody?: { content: Record<string, { schema: { $ref: string } }> } }>>;
      components: { schemas: Record<string, { required?: string[]; properties: Record<string, { type?: string; enum?: string[]; minimum?: number }> }> };
    };
    expect(document.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/accounts/{accountId}/purchases',
      '/v1/accounts/{accountId}/reveals',
      '/v1/accounts/{accountId}/record-charges',
      '/v1/record-charges:batch',
      '/v1/accounts/{accountId}/webhook-dispatches',
      '/v1/accounts/{accountId}/balance',
      '/v1/accounts/{accountId}/usage',
      '/v1/accounts/{accountId}/events',
      '/v1/audit/events',
    ]) {
      expect(document.paths[path]).toBeDefined();
    }
    const charge = document.paths['/v1/accounts/{accountId}/record-charges']!.post!;
    expect(charge.security).toEqual([{ bearer: [] }]);
    const ref = charge.requestBody!.content['application/json']!.schema.$ref.split('/').pop()!;
    const schema = document.components.schemas[ref]!;
    expect(schema.required).toEqual(expect.arrayContaining(['requestId', 'endpoint', 'records']));
    expect(schema.properties.endpoint!.enum).toEqual(['job_search', 'company_search', 'technographics']);
    expect(schema.properties.records).toMatchObject({ type: 'integer', minimum: 0 });
    expect(document.paths['/health']!.get!.security).toEqual([]);
  });

  it('stops on SIGTERM after answering what it accepted: every acknowledged charge is stored, the rest retried once', async () => {
    const client = httpClient(ledger.url, GATEWAY);
    const account = '/v1/accounts/ops-drain';
    await httpClient(ledger.url, ADMIN).post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 1_000_000, amountMinor: 1, currency: 'USD' });
    const acked = new Set<string>();
    const unanswered = new Set<string>();
    let next = 0;
    let running = true;
    const clients = Array.from({ length: 16 }, async () => {
      while (running) {
        const requestId = `d-${next++}`;
        try {
          const response = await client.post(`${account}/record-charges`, { requestId, endpoint: 'job_search', records: 1 });
          if (response.status === 200) acked.add(requestId);
          else unanswered.add(requestId); // 503 while closing
        } catch {
          unanswered.add(requestId); // the connection went away: outcome unknown to the caller
          running = false;
        }
      }
    });
    await sleep(500);
    const stopping = Date.now();
    const exitCode = await ledger.stop('SIGTERM');
    expect(Date.now() - stopping).toBeLessThan(5000);
    running = false;
    await Promise.all(clients);
    expect(exitCode).toBe(0);
    expect(ledger.output.some((line) => line.includes('"msg":"ledger stopped"'))).toBe(true);
    expect(acked.size).toBeGreaterThan(0);

    ledger = await startLedger(env());
    const again = httpClient(ledger.url, GATEWAY);
    const audit = httpClient(ledger.url, ADMIN);
    const before = await chargesByRequestId(audit, account);
    for (const requestId of acked) expect(before.get(requestId)).toBe(1);
    for (const requestId of unanswered) {
      expect((await again.post(`${account}/record-charges`, { requestId, endpoint: 'job_search', records: 1 })).status).toBe(200);
    }
    const after = await chargesByRequestId(audit, account);
    expect([...after.values()].every((n) => n === 1)).toBe(true);
    expect(after.size).toBe(acked.size + unanswered.size);
  }, 60_000);
});
