import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

/**
 * A year in the life of one team, driven over HTTP against the real ledger process on a real SQLite
 * file. History is back-filled with the admin token (occurredAt in the past), so a year of rules plays
 * out in seconds; then the ledger is restarted on the same file and must say exactly the same things.
 */
const DAY = 86_400_000;
const TOKENS = {
  admin: 'admin-token-0123456789abcdefghij',
  writer: 'writer-token-0123456789abcdefghij',
  reader: 'reader-token-0123456789abcdefghij',
};
const API_TOKENS = JSON.stringify([
  { name: 'billing-admin', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] },
  { name: 'api-gateway', token: TOKENS.writer, scopes: ['ledger:write', 'ledger:read'] },
  { name: 'dashboard', token: TOKENS.reader, scopes: ['ledger:read'] },
]);

const T0 = Math.floor((Date.now() - 420 * DAY) / DAY) * DAY;
const day = (n: number, hours = 0) => new Date(T0 + n * DAY + hours * 3_600_000).toISOString();

describe.each(STORE_MODES)('a year in the life of a team, over HTTP, then a restart (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let writer: ReturnType<typeof httpClient>;
  let reader: ReturnType<typeof httpClient>;
  // Unique per run: a real EventStoreDB named by EVENTSTORE_CONNECTION_STRING may be shared.
  const account = `acme-${process.pid}-${Date.now().toString(36)}`;
  const base = `/v1/accounts/${account}`;

  async function start() {
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    writer = httpClient(ledger.url, TOKENS.writer);
    reader = httpClient(ledger.url, TOKENS.reader);
  }

  const apiAvailable = async (asOf?: string) =>
    (await reader.get(`${base}/balance${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`)).body.api.available;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-e2e-'));
    store = await storeUnderTest(mode);
    await start();
  });

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is healthy without a token', async () => {
    const health = await httpClient(ledger.url).get('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
  });

  it('day 0: the free trial grants 200 API and 50 company credits for 30 days', async () => {
    const api = await admin.post(`${base}/purchases`, {
      purchaseId: 'trial-api',
      creditType: 'api',
      credits: 200,
      paid: false,
      source: 'trial',
      expiresAt: day(30),
      occurredAt: day(0),
    });
    expect(api.status).toBe(201);
    expect(api.body.lot).toMatchObject({ purchaseId: 'trial-api', paid: false, source: 'trial', expiresAt: day(30) });
    expect(api.body.balances).toEqual({ api: { available: 200 }, company: { available: 0 } });

    const company = await admin.post(`${base}/purchases`, {
      purchaseId: 'trial-company',
      creditType: 'company',
      credits: 50,
      paid: false,
      source: 'trial',
      expiresAt: day(30),
      occurredAt: day(0, 1),
    });
    expect(company.status).toBe(201);
    expect(company.body.balances).toEqual({ api: { available: 200 }, company: { available: 50 } });
  });

  it('days 1-3: jobs cost 1, companies 3, technographics 3 per record; no records cost nothing; asking again costs again', async () => {
    const jobs = await admin.post(`${base}/record-charges`, {
      requestId: 'req-jobs-1',
      endpoint: 'job_search',
      records: 25,
      apiKeyId: 'key-1',
      userId: 'user-ana',
      occurredAt: day(1),
    });
    expect(jobs.status).toBe(200);
    expect(jobs.body).toMatchObject({ recordsBilled: 25, unitPrice: 1, creditsCharged: 25 });
    expect(jobs.body.balances.api.available).toBe(175);

    const retried = await admin.post(`${base}/record-charges`, {
      requestId: 'req-jobs-1',
      endpoint: 'job_search',
      records: 25,
      apiKeyId: 'key-1',
      userId: 'user-ana',
      occurredAt: day(1),
    });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.body).toEqual(jobs.body);

    const companies = await admin.post(`${base}/record-charges`, {
      requestId: 'req-companies-1',
      endpoint: 'company_search',
      records: 10,
      occurredAt: day(2),
    });
    expect(companies.body).toMatchObject({ recordsBilled: 10, unitPrice: 3, creditsCharged: 30 });

    const techno = await admin.post(`${base}/record-charges`, {
      requestId: 'req-techno-1',
      endpoint: 'technographics',
      records: 5,
      occurredAt: day(2, 1),
    });
    expect(techno.body).toMatchObject({ recordsBilled: 5, unitPrice: 3, creditsCharged: 15 });
    expect(techno.body.balances.api.available).toBe(130);

    const empty = await admin.post(`${base}/record-charges`, {
      requestId: 'req-empty-1',
      endpoint: 'job_search',
      records: 0,
      occurredAt: day(3),
    });
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ recordsBilled: 0, creditsCharged: 0 });
    expect(empty.body.balances.api.available).toBe(130);

    const again = await admin.post(`${base}/record-charges`, {
      requestId: 'req-jobs-2',
      endpoint: 'job_search',
      records: 25,
      occurredAt: day(3, 1),
    });
    expect(again.body.creditsCharged).toBe(25);
    expect(await apiAvailable()).toBe(0); // the trial has long expired by today
    expect(await apiAvailable(day(3, 2))).toBe(105);
  });

  it('days 5-6: reveals charge once per company outside a window; inside it, reveals and exports are free', async () => {
    const first = await admin.post(`${base}/reveals`, {
      requestId: 'rev-1',
      companyIds: ['c1', 'c2', 'c2', 'c3'],
      action: 'reveal',
      userId: 'user-ana',
      occurredAt: day(5),
    });
    expect(first.status).toBe(200);
    expect(first.body.creditsCharged).toBe(3);
    expect(first.body.charged.map((c: { companyId: string }) => c.companyId)).toEqual(['c1', 'c2', 'c3']);
    expect(first.body.charged[0].windowEndsAt).toBe(day(95));
    expect(first.body.balances.company.available).toBe(47);

    const second = await admin.post(`${base}/reveals`, {
      requestId: 'rev-2',
      companyIds: ['c1', 'c4'],
      action: 'reveal',
      userId: 'user-ben',
      occurredAt: day(5, 1),
    });
    expect(second.body.alreadyRevealed).toEqual([{ companyId: 'c1', windowEndsAt: day(95) }]);
    expect(second.body.charged.map((c: { companyId: string }) => c.companyId)).toEqual(['c4']);
    expect(second.body.creditsCharged).toBe(1);

    const exported = await admin.post(`${base}/reveals`, {
      requestId: 'exp-1',
      companyIds: ['c1', 'c2'],
      action: 'export',
      occurredAt: day(6),
    });
    expect(exported.body.creditsCharged).toBe(0);
    expect(exported.body.balances.company.available).toBe(46);
  });

  it('day 10: webhook events cost 1 per job and 3 per company, once per event', async () => {
    const job = await admin.post(`${base}/webhook-dispatches`, {
      webhookEventId: 'evt-1',
      webhookId: 'wh-jobs',
      recordType: 'job',
      occurredAt: day(10),
    });
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ status: 'dispatched', creditsCharged: 1 });
    const redelivered = await admin.post(`${base}/webhook-dispatches`, {
      webhookEventId: 'evt-1',
      webhookId: 'wh-jobs',
      recordType: 'job',
      occurredAt: day(10, 1),
    });
    expect(redelivered.body).toEqual(job.body);
    const company = await admin.post(`${base}/webhook-dispatches`, {
      webhookEventId: 'evt-2',
      webhookId: 'wh-companies',
      recordType: 'company',
      occurredAt: day(10, 2),
    });
    expect(company.body.creditsCharged).toBe(3);
    expect(company.body.balances.api.available).toBe(101);
  });

  it('day 31: the trial expired; charges are refused with 402 and webhook events are not triggered', async () => {
    expect(await apiAvailable(day(29))).toBe(101);
    expect(await apiAvailable(day(30))).toBe(0);
    const refused = await admin.post(`${base}/record-charges`, {
      requestId: 'req-after-trial',
      endpoint: 'job_search',
      records: 1,
      occurredAt: day(31),
    });
    expect(refused.status).toBe(402);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ code: 'CREDITS_INSUFFICIENT', creditType: 'api', required: 1, available: 0 });

    const notTriggered = await admin.post(`${base}/webhook-dispatches`, {
      webhookEventId: 'evt-3',
      webhookId: 'wh-jobs',
      recordType: 'job',
      occurredAt: day(31, 1),
    });
    expect(notTriggered.status).toBe(402);
    expect(notTriggered.body).toMatchObject({ code: 'CREDITS_INSUFFICIENT', status: 'not_triggered', required: 1, available: 0 });
  });

  it('day 32: a paid pack lasts 12 calendar months; the refused webhook event goes out and is charged once', async () => {
    const paid = await admin.post(`${base}/purchases`, {
      purchaseId: 'pack-1',
      creditType: 'api',
      credits: 1000,
      amountMinor: 9900,
      currency: 'USD',
      invoiceId: 'inv-1',
      occurredAt: day(32),
    });
    expect(paid.status).toBe(201);
    const purchasedAt = new Date(day(32));
    const expected = new Date(purchasedAt);
    expected.setUTCFullYear(purchasedAt.getUTCFullYear() + 1);
    expect(paid.body.lot).toMatchObject({ paid: true, source: 'purchase', purchasedAt: day(32), expiresAt: expected.toISOString() });

    const dispatched = await admin.post(`${base}/webhook-dispatches`, {
      webhookEventId: 'evt-3',
      webhookId: 'wh-jobs',
      recordType: 'job',
      occurredAt: day(32, 1),
    });
    expect(dispatched.status).toBe(200);
    expect(dispatched.body).toMatchObject({ status: 'dispatched', creditsCharged: 1 });
    expect(dispatched.body.balances.api.available).toBe(999);
  });

  it('day 40: partial billing bills the whole records the balance pays for', async () => {
    const partial = await admin.post(`${base}/record-charges`, {
      requestId: 'req-partial',
      endpoint: 'company_search',
      records: 400,
      allowPartial: true,
      occurredAt: day(40),
    });
    expect(partial.status).toBe(200);
    expect(partial.body).toMatchObject({ recordsRequested: 400, recordsBilled: 333, creditsCharged: 999 });
    expect(partial.body.balances.api.available).toBe(0);
    const refused = await admin.post(`${base}/record-charges`, {
      requestId: 'req-all-or-nothing',
      endpoint: 'company_search',
      records: 2,
      occurredAt: day(40, 1),
    });
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ required: 6, available: 0 });
  });

  it('days 41-95: the reveal window is free on day 89 of it and charged again on day 90', async () => {
    await admin.post(`${base}/purchases`, {
      purchaseId: 'pack-company',
      creditType: 'company',
      credits: 100,
      amountMinor: 4900,
      currency: 'USD',
      occurredAt: day(41),
    });
    await admin.post(`${base}/purchases`, {
      purchaseId: 'pack-2',
      creditType: 'api',
      credits: 500,
      amountMinor: 4900,
      currency: 'USD',
      occurredAt: day(41, 1),
    });
    const day89 = await admin.post(`${base}/reveals`, {
      requestId: 'rev-day-89',
      companyIds: ['c1'],
      action: 'reveal',
      occurredAt: day(94),
    });
    expect(day89.body).toMatchObject({ creditsCharged: 0, alreadyRevealed: [{ companyId: 'c1', windowEndsAt: day(95) }] });
    const status89 = await reader.get(`${base}/reveals/c1`);
    expect(status89.body).toMatchObject({ revealed: false }); // today, a year later, the window is long closed
    const day90 = await admin.post(`${base}/reveals`, {
      requestId: 'rev-day-90',
      companyIds: ['c1'],
      action: 'reveal',
      occurredAt: day(95),
    });
    expect(day90.body).toMatchObject({ creditsCharged: 1, charged: [{ companyId: 'c1', windowEndsAt: day(185) }] });
    expect(day90.body.balances.company.available).toBe(99);
  });

  it('day 410: the paid pack of day 41 expired after 12 months and no longer pays', async () => {
    const expiry = new Date(day(41, 1));
    expiry.setUTCFullYear(expiry.getUTCFullYear() + 1);
    const justBefore = new Date(expiry.getTime() - 1).toISOString();
    expect(await apiAvailable(justBefore)).toBe(500);
    expect(await apiAvailable(expiry.toISOString())).toBe(0);
    const refused = await admin.post(`${base}/record-charges`, {
      requestId: 'req-after-expiry',
      endpoint: 'job_search',
      records: 1,
      occurredAt: day(410),
    });
    expect(refused.status).toBe(402);
  });

  it('today: the gateway charges in real time; its balance and lots are visible', async () => {
    const bought = await writer.post(`${base}/purchases`, {
      purchaseId: 'pack-today',
      creditType: 'api',
      credits: 300,
      amountMinor: 2900,
      currency: 'EUR',
    });
    expect(bought.status).toBe(201);
    const charged = await writer.post(`${base}/record-charges`, { requestId: 'req-today', endpoint: 'job_search', records: 7 });
    expect(charged.status).toBe(200);
    expect(charged.body.balances.api.available).toBe(293);
    const balance = await reader.get(`${base}/balance`);
    expect(balance.status).toBe(200);
    expect(balance.body.api).toEqual({
      available: 293,
      lots: [expect.objectContaining({ purchaseId: 'pack-today', remaining: 293, paid: true, source: 'purchase' })],
    });
    expect(balance.body.company).toEqual({ available: 0, lots: [] }); // the company pack of day 41 expired on day ~406
  });

  describe('refusals write nothing and say why', () => {
    /** Read from the store itself, not through the ledger. */
    const storedEvents = () => store.countEvents(dataDir, `creditAccount-${account}`);
    let eventsBefore = 0;
    beforeAll(async () => {
      eventsBefore = await storedEvents();
    });
    afterAll(async () => {
      expect(await storedEvents()).toBe(eventsBefore);
    });

    it('401 without a token or with an unknown one, 403 without the scope', async () => {
      const anonymous = await httpClient(ledger.url).get(`${base}/balance`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.code).toBe('UNAUTHENTICATED');
      expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
      const unknown = await httpClient(ledger.url, 'not-a-real-token-000000000000').get(`${base}/balance`);
      expect(unknown.status).toBe(401);
      const readOnly = await reader.post(`${base}/record-charges`, { requestId: 'r-ro', endpoint: 'job_search', records: 1 });
      expect(readOnly.status).toBe(403);
      expect(readOnly.body.code).toBe('SCOPE_MISSING');
    });

    it('403 for back-dating without ledger:admin; 400 for the future; 409 when time would go backwards', async () => {
      const backdated = await writer.post(`${base}/record-charges`, {
        requestId: 'r-backdated',
        endpoint: 'job_search',
        records: 1,
        occurredAt: new Date(Date.now() - 3_600_000).toISOString(),
      });
      expect(backdated.status).toBe(403);
      expect(backdated.body.code).toBe('BACKDATING_NOT_ALLOWED');
      const future = await writer.post(`${base}/record-charges`, {
        requestId: 'r-future',
        endpoint: 'job_search',
        records: 1,
        occurredAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      expect(future.status).toBe(400);
      expect(future.body.fields).toEqual([expect.objectContaining({ field: 'occurredAt' })]);
      const backwards = await admin.post(`${base}/record-charges`, {
        requestId: 'r-backwards',
        endpoint: 'job_search',
        records: 1,
        occurredAt: day(400),
      });
      expect(backwards.status).toBe(409);
      expect(backwards.body.code).toBe('OCCURRED_AT_BEFORE_LATEST_EVENT');
    });

    it('400 listing the fields for unknown fields, wrong types and malformed JSON', async () => {
      const wrong = await writer.post(`${base}/record-charges`, {
        requestId: 'r-bad',
        endpoint: 'people_search',
        records: '5',
        surprise: true,
      });
      expect(wrong.status).toBe(400);
      expect(wrong.body.code).toBe('VALIDATION_FAILED');
      const fields = wrong.body.fields.map((f: { field: string }) => f.field);
      expect(fields).toEqual(expect.arrayContaining(['endpoint', 'records', 'surprise']));
      const negative = await writer.post(`${base}/purchases`, { purchaseId: 'p-neg', creditType: 'api', credits: -5 });
      expect(negative.status).toBe(400);
      const fractional = await writer.post(`${base}/purchases`, { purchaseId: 'p-frac', creditType: 'api', credits: 1.5 });
      expect(fractional.status).toBe(400);
      const malformed = await writer.call('POST', `${base}/record-charges`, { rawBody: '{"requestId": ' });
      expect(malformed.status).toBe(400);
      expect(malformed.headers.get('content-type')).toContain('application/problem+json');
      const badAccount = await writer.post('/v1/accounts/bad%20id/record-charges', { requestId: 'x', endpoint: 'job_search', records: 1 });
      expect(badAccount.status).toBe(400);
      expect(await apiAvailable()).toBe(293);
    });

    it('409 for a request id reused with another payload; 404 for an unknown account', async () => {
      const reused = await writer.post(`${base}/record-charges`, { requestId: 'req-today', endpoint: 'job_search', records: 8 });
      expect(reused.status).toBe(409);
      expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const unknown = await reader.get('/v1/accounts/nobody-here/balance');
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe('ACCOUNT_NOT_FOUND');
      const unknownCharge = await writer.post('/v1/accounts/nobody-here/record-charges', {
        requestId: 'r-nobody',
        endpoint: 'job_search',
        records: 1,
      });
      expect(unknownCharge.status).toBe(404);
    });
  });

  it('after a restart on the same file, every balance and every past answer is unchanged', async () => {
    const instants = [day(3, 2), day(29), day(31), day(40, 2), day(95, 1), undefined];
    const before = await Promise.all(
      instants.map((at) => reader.get(`${base}/balance${at ? `?asOf=${encodeURIComponent(at)}` : ''}`)),
    );
    const revealBefore = await reader.get(`${base}/reveals/c1`);

    expect(await ledger.stop()).toBe(0);
    await start();

    const after = await Promise.all(
      instants.map((at) => reader.get(`${base}/balance${at ? `?asOf=${encodeURIComponent(at)}` : ''}`)),
    );
    for (let i = 0; i < instants.length; i++) {
      expect(after[i]!.status).toBe(200);
      if (instants[i] === undefined) {
        const { asOf: _a, ...beforeBody } = before[i]!.body;
        const { asOf: _b, ...afterBody } = after[i]!.body;
        expect(afterBody).toEqual(beforeBody);
      } else {
        expect(after[i]!.body).toEqual(before[i]!.body);
      }
    }
    expect((await reader.get(`${base}/reveals/c1`)).body).toEqual(revealBefore.body);

    const retried = await admin.post(`${base}/record-charges`, {
      requestId: 'req-jobs-1',
      endpoint: 'job_search',
      records: 25,
      apiKeyId: 'key-1',
      userId: 'user-ana',
      occurredAt: day(1),
    });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ recordsBilled: 25, creditsCharged: 25, balances: { api: { available: 175 } } });
    expect(await apiAvailable()).toBe(293);
  });
});
