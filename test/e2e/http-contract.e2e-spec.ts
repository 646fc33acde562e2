import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { collect, type EventStore } from '#event-store';
import { readConfig } from '../../apps/ledger/src/config/ledger.config.js';
import { createLedgerApp } from '../../apps/ledger/src/ledger.app.js';
import { httpClient } from '../support/http.js';
import { startLedger } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

const TOKEN = 'contract-token-0123456789abcdef';

describe.each(STORE_MODES)('the HTTP contract (%s store)', (mode) => {
  let dataDir: string;
  let app: NestFastifyApplication;
  let storeUnder: StoreUnderTest;
  let store: EventStore;
  const team = `team-${Date.now().toString(36)}`;
  const race = (n: number) => `race-${n}-${Date.now().toString(36)}`;
  let client: ReturnType<typeof httpClient>;

  const countEvents = async () => (await collect(store.readAll())).filter((e) => e.streamId.includes(team)).length;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-contract-'));
    storeUnder = await storeUnderTest(mode);
    const config = readConfig({
      ...storeUnder.env(dataDir),
      LEDGER_DATA_DIR: dataDir,
      LEDGER_BODY_LIMIT_BYTES: '65536',
      LEDGER_API_TOKENS: JSON.stringify([{ name: 'svc', token: TOKEN, scopes: ['ledger:write', 'ledger:read'] }]),
    });
    store = storeUnder.open(dataDir);
    app = await createLedgerApp(config, { store, logLevel: 'error' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    client = httpClient(await app.getUrl(), TOKEN);
    const bought = await client.post(`/v1/accounts/${team}/purchases`, {
      purchaseId: 'p-1',
      creditType: 'api',
      credits: 100,
      amountMinor: 1000,
      currency: 'USD',
    });
    expect(bought.status).toBe(201);
  });

  afterAll(async () => {
    await app.close();
    await storeUnder.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('bad input gets a 4xx Problem and writes nothing', () => {
    const route = `/v1/accounts/${team}/record-charges`;
    const cases: [string, { rawBody?: string; headers?: Record<string, string>; body?: unknown }, number, string][] = [
      ['malformed JSON', { rawBody: '{"requestId":' }, 400, 'MALFORMED_JSON'],
      ['an empty body', { rawBody: '' }, 400, 'MALFORMED_JSON'],
      ['an array', { rawBody: '[1,2,3]' }, 400, 'MALFORMED_JSON'],
      ['null', { rawBody: 'null' }, 400, 'MALFORMED_JSON'],
      ['a prototype-pollution key', { rawBody: '{"__proto__":{"admin":true},"requestId":"r","endpoint":"job_search","records":1}' }, 400, 'MALFORMED_JSON'],
      ['text/plain', { rawBody: 'records=1', headers: { 'content-type': 'text/plain' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['an oversized body', { body: { requestId: 'r', endpoint: 'job_search', records: 1, pad: 'x'.repeat(70_000) } }, 413, 'BODY_TOO_LARGE'],
      ['a string for a number', { body: { requestId: 'r', endpoint: 'job_search', records: '1' } }, 400, 'VALIDATION_FAILED'],
      ['a fractional count', { body: { requestId: 'r', endpoint: 'job_search', records: 1.5 } }, 400, 'VALIDATION_FAILED'],
      ['a negative count', { body: { requestId: 'r', endpoint: 'job_search', records: -1 } }, 400, 'VALIDATION_FAILED'],
      ['a huge count', { body: { requestId: 'r', endpoint: 'job_search', records: 1e300 } }, 400, 'VALIDATION_FAILED'],
      ['an injection string as id', { body: { requestId: "r'; DROP TABLE events;--", endpoint: 'job_search', records: 1 } }, 400, 'VALIDATION_FAILED'],
      ['a unicode id', { body: { requestId: 'r\u202e\u0000', endpoint: 'job_search', records: 1 } }, 400, 'VALIDATION_FAILED'],
      ['an unknown endpoint', { body: { requestId: 'r', endpoint: 'people', records: 1 } }, 400, 'VALIDATION_FAILED'],
      ['an unknown field', { body: { requestId: 'r', endpoint: 'job_search', records: 1, discount: 100 } }, 400, 'VALIDATION_FAILED'],
      ['a field named like an inherited method', { body: { requestId: 'r', endpoint: 'job_search', records: 1, toString: 'x' } }, 400, 'VALIDATION_FAILED'],
      ['a field named like a method taking arguments', { body: { requestId: 'r', endpoint: 'job_search', records: 1, hasOwnProperty: 'x' } }, 400, 'VALIDATION_FAILED'],
      ['a field named constructor', { rawBody: '{"requestId":"r","endpoint":"job_search","records":1,"constructor":"x"}' }, 400, 'VALIDATION_FAILED'],
      ['a time without offset', { body: { requestId: 'r', endpoint: 'job_search', records: 1, occurredAt: '2026-01-01T10:00:00' } }, 400, 'VALIDATION_FAILED'],
      ['null for an optional time', { body: { requestId: 'r', endpoint: 'job_search', records: 1, occurredAt: null } }, 400, 'VALIDATION_FAILED'],
      ['null for an optional flag', { body: { requestId: 'r', endpoint: 'job_search', records: 1, allowPartial: null } }, 400, 'VALIDATION_FAILED'],
      ['a 20 KiB header (refused by the HTTP parser)', { body: { requestId: 'r', endpoint: 'job_search', records: 1 }, headers: { 'x-padding': 'x'.repeat(20_000) } }, 431, 'HEADERS_TOO_LARGE'],
    ];

    it.each(cases)('%s', async (_name, request, status, code) => {
      const before = await countEvents();
      const response = await client.call('POST', route, request);
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
      expect(await countEvents()).toBe(before);
    });

    it('lists every offending field of a purchase', async () => {
      const response = await client.post(`/v1/accounts/${team}/purchases`, {
        purchaseId: '',
        creditType: 'gold',
        credits: 0,
        currency: 'usd',
      });
      expect(response.status).toBe(400);
      const fields = new Set(response.body.fields.map((f: { field: string }) => f.field));
      expect(fields).toEqual(new Set(['purchaseId', 'creditType', 'credits', 'currency']));
    });

    it('refuses 1,001 companies and accepts 1,000', async () => {
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `co-${i}`);
      const tooMany = await client.post(`/v1/accounts/${team}/reveals`, { requestId: 'big', companyIds: ids(1001), action: 'reveal' });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.fields.map((f: { field: string }) => f.field)).toContain('companyIds');
      const none = await client.post(`/v1/accounts/${team}/reveals`, { requestId: 'big', companyIds: ids(1000), action: 'reveal' });
      expect(none.status).toBe(402); // no company credits: refused, but a valid request
      expect(none.body).toMatchObject({ code: 'CREDITS_INSUFFICIENT', creditType: 'company', required: 1000, available: 0 });
    });
  });

  describe('the batch route', () => {
    it('charges up to 1,000 records charges for any accounts, each with its own result, in order', async () => {
      const a = race(3);
      const b = race(4);
      for (const account of [a, b]) {
        await client.post(`/v1/accounts/${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 10, amountMinor: 1, currency: 'USD' });
      }
      const charges = [
        ...Array.from({ length: 12 }, (_, i) => ({ accountId: a, requestId: `b-${i}`, endpoint: 'job_search', records: 1 })),
        { accountId: b, requestId: 'b-x', endpoint: 'company_search', records: 3 },
        { accountId: b, requestId: 'b-bad', endpoint: 'people', records: 1 },
        { accountId: 'nobody-at-all', requestId: 'b-none', endpoint: 'job_search', records: 1 },
      ];
      const response = await client.post('/v1/record-charges:batch', { charges });
      expect(response.status).toBe(200);
      const statuses = response.body.results.map((r: { status: number }) => r.status);
      expect(statuses).toEqual([...Array(10).fill(200), 402, 402, 200, 400, 404]);
      expect(response.body.results[12].result).toMatchObject({ accountId: b, creditsCharged: 9 });
      // The batch's answer is written from a schema: it must hold all that the single route answers.
      const single = await client.post(`/v1/accounts/${b}/record-charges`, { requestId: 'b-x', endpoint: 'company_search', records: 3 });
      expect(single.headers.get('idempotent-replayed')).toBe('true');
      expect(response.body.results[12].result).toEqual(single.body);
      expect(response.body.results[13].problem).toMatchObject({ code: 'VALIDATION_FAILED', fields: [expect.objectContaining({ field: 'endpoint' })] });

      const retried = await client.post('/v1/record-charges:batch', { charges: charges.slice(0, 10) });
      expect(retried.body.results.every((r: { replayed: boolean }) => r.replayed)).toBe(true);
      expect((await client.get(`/v1/accounts/${a}/balance`)).body.api.available).toBe(0);
    });

    it('refuses as a whole a batch with a constructor key in a charge, writing nothing', async () => {
      const before = await countEvents();
      const response = await client.call('POST', '/v1/record-charges:batch', {
        rawBody: `{"charges":[{"accountId":"${team}","requestId":"ctor-1","endpoint":"job_search","records":1,"constructor":"x"}]}`,
      });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'charges.0.constructor' }] });
      expect(await countEvents()).toBe(before);
    });

    it('refuses an empty or oversized batch as a whole', async () => {
      expect((await client.post('/v1/record-charges:batch', { charges: [] })).status).toBe(400);
      const tooMany = Array.from({ length: 1001 }, () => ({}));
      expect((await client.post('/v1/record-charges:batch', { charges: tooMany })).status).toBe(400);
    });
  });

  describe('when 64 clients charge one account at once', () => {
    it('accepts exactly what the balance pays for and never goes below zero', async () => {
      const account = `/v1/accounts/${race(1)}`;
      await client.post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 90, amountMinor: 1, currency: 'USD' });
      const responses = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          client.post(`${account}/record-charges`, { requestId: `r-${i}`, endpoint: 'company_search', records: 1 }),
        ),
      );
      const ok = responses.filter((r) => r.status === 200);
      expect(ok).toHaveLength(30);
      expect(responses.filter((r) => r.status === 402)).toHaveLength(34);
      expect(Math.min(...ok.map((r) => r.body.balances.api.available))).toBe(0);
      expect((await client.get(`${account}/balance`)).body.api.available).toBe(0);
    });

    it('charges a request id retried concurrently exactly once', async () => {
      const account = `/v1/accounts/${race(2)}`;
      await client.post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 90, amountMinor: 1, currency: 'USD' });
      const responses = await Promise.all(
        Array.from({ length: 64 }, () => client.post(`${account}/record-charges`, { requestId: 'same', endpoint: 'job_search', records: 5 })),
      );
      expect(responses.every((r) => r.status === 200 && r.body.creditsCharged === 5)).toBe(true);
      expect(responses.filter((r) => r.headers.get('idempotent-replayed') === 'false')).toHaveLength(1);
      expect((await client.get(`${account}/balance`)).body.api.available).toBe(85);
    });
  });
});

describe('with no tokens configured', () => {
  it('never runs open: it writes an admin token readable only by its owner and says where', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ledger-token-'));
    const ledger = await startLedger({ LEDGER_DATA_DIR: dataDir });
    try {
      const announcement = ledger.output.map((line) => {
        try {
          return JSON.parse(line) as { tokenFile?: string };
        } catch {
          return {};
        }
      }).find((entry) => entry.tokenFile);
      expect(announcement?.tokenFile).toBe(join(dataDir, 'admin-token'));
      expect(statSync(announcement!.tokenFile!).mode & 0o777).toBe(0o600);
      const token = readFileSync(announcement!.tokenFile!, 'utf8').trim();
      expect(ledger.output.join('\n')).not.toContain(token);

      expect((await httpClient(ledger.url).get('/v1/accounts/x/balance')).status).toBe(401);
      const admin = httpClient(ledger.url, token);
      const backfilled = await admin.post('/v1/accounts/x/purchases', {
        purchaseId: 'p',
        creditType: 'company',
        credits: 5,
        amountMinor: 500,
        currency: 'EUR',
        occurredAt: new Date(Date.now() - 86_400_000).toISOString(),
      });
      expect(backfilled.status).toBe(201);
    } finally {
      await ledger.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start on bad configuration, naming every bad value', async () => {
    await expect(
      startLedger({ LEDGER_DATA_DIR: tmpdir(), PORT: 'eighty', LEDGER_API_TOKENS: '[{"name":"x","token":"short","scopes":["all"]}]' }),
    ).rejects.toThrow(/PORT must be an integer[\s\S]*LEDGER_API_TOKENS\[0\]\.token/);
  });
});
