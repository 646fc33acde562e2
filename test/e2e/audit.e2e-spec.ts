import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Position } from '#event-store';
import { httpClient, type HttpResponse } from '../support/http.js';
import { startLedger, type LedgerProcess } from '../support/ledger-process.js';
import { STORE_MODES, storeUnderTest, type StoreUnderTest } from '../support/store-under-test.js';

/**
 * Finance's view of the ledger (rule 13), over HTTP against the real process: two teams' histories are
 * back-filled by commands, then every audit route is read and its figures checked to the minor unit.
 */
const DAY = 86_400_000;
const HOUR = 3_600_000;
const TOKENS = {
  admin: 'audit-admin-token-0123456789abcdef',
  auditor: 'audit-finance-token-0123456789abcdef',
  reader: 'audit-reader-token-0123456789abcdef',
};
const API_TOKENS = JSON.stringify([
  { name: 'billing-admin', token: TOKENS.admin, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] },
  { name: 'finance', token: TOKENS.auditor, scopes: ['audit:read'] },
  { name: 'dashboard', token: TOKENS.reader, scopes: ['ledger:read', 'ledger:write'] },
]);

// Day 0 is 500 days ago, so that paid lots bought then (12 months) have expired by now.
const T0 = Math.floor((Date.now() - 500 * DAY) / DAY) * DAY;
const day = (n: number, hours = 0) => new Date(T0 + n * DAY + hours * HOUR).toISOString();
const date = (n: number) => day(n).slice(0, 10);

describe.each(STORE_MODES)('the finance audit (%s store)', (mode) => {
  let store: StoreUnderTest;
  let dataDir: string;
  let ledger: LedgerProcess;
  let admin: ReturnType<typeof httpClient>;
  let auditor: ReturnType<typeof httpClient>;
  // Unique per run: a real EventStoreDB named by EVENTSTORE_CONNECTION_STRING may be shared.
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const A = `audit-a-${run}`;
  const B = `audit-b-${run}`;
  const C = `audit-c-${run}`;
  const ours = (accountId: string) => accountId === A || accountId === B || accountId === C;
  const expiries: Record<string, string> = {};

  async function ok(response: Promise<HttpResponse>, status = 200): Promise<HttpResponse> {
    const answered = await response;
    if (answered.status !== status) throw new Error(`expected ${status}, got ${answered.status}: ${answered.text}`);
    return answered;
  }

  async function buy(accountId: string, fields: Record<string, unknown>) {
    const bought = await ok(admin.post(`/v1/accounts/${accountId}/purchases`, fields), 201);
    expiries[fields.purchaseId as string] = bought.body.lot.expiresAt;
    return bought;
  }

  async function headPosition(): Promise<Position | undefined> {
    const view = store.open(dataDir);
    try {
      return await view.headPosition();
    } finally {
      await view.close();
    }
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-audit-'));
    store = await storeUnderTest(mode);
    ledger = await startLedger({ ...store.env(dataDir), LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: API_TOKENS });
    admin = httpClient(ledger.url, TOKENS.admin);
    auditor = httpClient(ledger.url, TOKENS.auditor);

    // Commands in day order, the two teams interleaved, so `$all` mixes their streams.
    await buy(A, { purchaseId: 'a-api', creditType: 'api', credits: 1000, amountMinor: 9999, currency: 'USD', invoiceId: 'inv-a-1', occurredAt: day(0) });
    await buy(A, { purchaseId: 'a-trial', creditType: 'api', credits: 100, paid: false, source: 'trial', expiresAt: day(30), occurredAt: day(0, 1) });
    await buy(A, { purchaseId: 'a-co', creditType: 'company', credits: 60, amountMinor: 5000, currency: 'USD', invoiceId: 'inv-a-2', occurredAt: day(0, 2) });
    // 150 credits: the trial (expiring first) pays 100, the paid pack 50.
    await ok(admin.post(`/v1/accounts/${A}/record-charges`, { requestId: 'a-r1', endpoint: 'job_search', records: 150, occurredAt: day(1) }));
    await ok(admin.post(`/v1/accounts/${A}/reveals`, { requestId: 'a-v1', companyIds: ['c1', 'c2', 'c3'], action: 'reveal', occurredAt: day(2) }));
    await ok(admin.post(`/v1/accounts/${A}/reveals`, { requestId: 'a-v2', companyIds: ['c1'], action: 'export', occurredAt: day(3) }));
    await buy(B, { purchaseId: 'b-api', creditType: 'api', credits: 100, amountMinor: 2500, currency: 'EUR', invoiceId: 'inv-b-1', occurredAt: day(5) });
    await buy(B, { purchaseId: 'b-co', creditType: 'company', credits: 10, amountMinor: 1001, currency: 'EUR', invoiceId: 'inv-b-2', occurredAt: day(6) });
    await buy(B, { purchaseId: 'b-grant', creditType: 'api', credits: 50, paid: false, source: 'grant', expiresAt: day(20), occurredAt: day(6, 1) });
    // 60 credits: the grant pays 50, the paid pack 10; then 90 more empty the pack.
    await ok(admin.post(`/v1/accounts/${B}/record-charges`, { requestId: 'b-r1', endpoint: 'company_search', records: 20, occurredAt: day(7) }));
    await ok(admin.post(`/v1/accounts/${B}/record-charges`, { requestId: 'b-r2', endpoint: 'job_search', records: 90, occurredAt: day(8) }));
    const refused = await admin.post(`/v1/accounts/${B}/webhook-dispatches`, { webhookEventId: 'b-w1', webhookId: 'wh', recordType: 'job', occurredAt: day(9) });
    expect(refused.status).toBe(402);
    expect(refused.body.status).toBe('not_triggered');
    await ok(admin.post(`/v1/accounts/${B}/reveals`, { requestId: 'b-v1', companyIds: ['x1', 'x2', 'x3', 'x4'], action: 'reveal', occurredAt: day(9, 1) }));
    await ok(admin.post(`/v1/accounts/${A}/webhook-dispatches`, { webhookEventId: 'a-w1', webhookId: 'wh', recordType: 'company', occurredAt: day(10) }));
    await ok(admin.post(`/v1/accounts/${A}/record-charges`, { requestId: 'a-r2', endpoint: 'technographics', records: 10, occurredAt: day(40) }));
    // A is never active again: its paid lots expire (about day 365) without CreditsExpired being recorded.
    // B buys again on day 400, which records the expiry of b-co (6 credits left) first.
    await buy(B, { purchaseId: 'b-api-2', creditType: 'api', credits: 10, amountMinor: 300, currency: 'EUR', occurredAt: day(400) });
    // C is back-filled last: its day-100 purchase is committed after B's day-400 events, so `$all` (commit
    // order) is not in time order, and a report that stopped at the first later-dated event would miss it.
    await buy(C, { purchaseId: 'c-api', creditType: 'api', credits: 40, amountMinor: 1235, currency: 'JPY', occurredAt: day(100) });
  }, 120_000);

  afterAll(async () => {
    await ledger?.stop();
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const typesOf = (events: { type: string }[]) => events.map((e) => e.type);
  const A_TYPES = [
    'CreditsPurchased',
    'CreditsPurchased',
    'CreditsPurchased',
    'RecordsReturned',
    'CompanyRevealed',
    'CompanyRevealed',
    'CompanyRevealed',
    'RevealServedFree',
    'WebhookDispatched',
    'RecordsReturned',
  ];
  const B_TYPES = [
    'CreditsPurchased',
    'CreditsPurchased',
    'CreditsPurchased',
    'RecordsReturned',
    'RecordsReturned',
    'WebhookNotTriggered',
    'CompanyRevealed',
    'CompanyRevealed',
    'CompanyRevealed',
    'CompanyRevealed',
    'CreditsExpired',
    'CreditsPurchased',
  ];

  describe("an account's events", () => {
    it('pages through the stream in order until next is null', async () => {
      const events: any[] = [];
      const froms: string[] = [];
      let from: string | null = '0';
      while (from !== null) {
        froms.push(from);
        const page = await ok(auditor.get(`/v1/accounts/${A}/events?from=${from}&limit=3`));
        expect(page.body.accountId).toBe(A);
        expect(page.body.events.length).toBeLessThanOrEqual(3);
        events.push(...page.body.events);
        from = page.body.next;
      }
      expect(froms).toEqual(['0', '3', '6', '9']);
      expect(events.map((e) => e.revision)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(typesOf(events)).toEqual(A_TYPES);
      const positions = events.map((e) => BigInt(e.position));
      expect(positions).toEqual([...positions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    });

    it('shows each event whole: data, metadata, business time and recording time', async () => {
      const page = await ok(auditor.get(`/v1/accounts/${A}/events`));
      expect(page.body.next).toBeNull();
      expect(page.body.events).toHaveLength(10);
      const charge = page.body.events[3];
      expect(charge).toMatchObject({
        revision: '3',
        position: expect.stringMatching(/^\d+(:\d+)?$/),
        type: 'RecordsReturned',
        occurredAt: day(1),
        data: {
          accountId: A,
          requestId: 'a-r1',
          credits: 150,
          allocations: [
            { purchaseId: 'a-trial', credits: 100 },
            { purchaseId: 'a-api', credits: 50 },
          ],
        },
        metadata: { causationId: 'request:a-r1', actor: { service: 'billing-admin' }, occurredAt: day(1), schemaVersion: 1 },
      });
      // Back-filled: recorded now, though it happened long ago.
      expect(Date.parse(charge.recordedAt)).toBeGreaterThan(Date.now() - HOUR);
    });

    it('gives an empty last page past the end', async () => {
      const page = await ok(auditor.get(`/v1/accounts/${A}/events?from=10`));
      expect(page.body).toEqual({ accountId: A, events: [], next: null });
    });
  });

  describe("the ledger's events in global order", () => {
    async function everyPage(limit: number) {
      const events: any[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await ok(auditor.get(`/v1/audit/events?limit=${limit}${after ? `&after=${after}` : ''}`));
        pages += 1;
        events.push(...page.body.events);
        if (page.body.next === null) {
          expect(page.headers.get('link')).toBeNull();
          return { events, pages };
        }
        expect(page.body.events).toHaveLength(limit);
        expect(page.headers.get('link')).toBe(`</v1/audit/events?after=${page.body.next.after}&limit=${limit}>; rel="next"`);
        after = page.body.next.after;
      }
    }

    it('follows the cursors to the end: every event once, in position order, each stream in revision order', async () => {
      const { events, pages } = await everyPage(5);
      const mine = events.filter((e) => ours(e.accountId));
      expect(mine).toHaveLength(23);
      expect(pages).toBe(Math.max(1, Math.ceil(events.length / 5)));
      const positions = events.map((e) => BigInt(e.position.split(':')[0]));
      expect(new Set(positions).size).toBe(events.length);
      expect(positions).toEqual([...positions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      for (const [accountId, types] of [[A, A_TYPES], [B, B_TYPES]] as const) {
        const stream = mine.filter((e) => e.accountId === accountId);
        expect(stream.map((e) => e.revision)).toEqual(types.map((_, i) => String(i)));
        expect(typesOf(stream)).toEqual(types);
        expect(stream.every((e) => e.streamId === `creditAccount-${accountId}`)).toBe(true);
      }
      // Interleaved as committed: B's first purchase came after A's first eight events; C's back-filled
      // day-100 purchase comes after B's day-400 events.
      expect(mine.slice(0, 10).map((e) => e.accountId)).toEqual([A, A, A, A, A, A, A, A, B, B]);
      expect(mine.slice(-3).map((e) => [e.accountId, e.type, e.occurredAt])).toEqual([
        [B, 'CreditsExpired', expiries['b-co']],
        [B, 'CreditsPurchased', day(400)],
        [C, 'CreditsPurchased', day(100)],
      ]);
      expect(events.every((e) => e.streamId.startsWith('creditAccount-'))).toBe(true);
    });

    it('answers the same events as NDJSON, one JSON object per line', async () => {
      const json = await ok(auditor.get('/v1/audit/events?limit=1000'));
      // Fetched raw: the test client would try to parse the whole body as one JSON document.
      const ndjson = await fetch(new URL('/v1/audit/events?limit=1000', ledger.url), {
        headers: { accept: 'application/x-ndjson', authorization: `Bearer ${TOKENS.auditor}` },
      });
      expect(ndjson.status).toBe(200);
      expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      expect(ndjson.headers.get('vary')).toMatch(/accept/i);
      const lines = (await ndjson.text()).split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((line) => JSON.parse(line))).toEqual(json.body.events);
    });

    it('answers the same events as CSV, with the credits moved and the data as JSON', async () => {
      const json = await ok(auditor.get('/v1/audit/events?limit=1000'));
      const csv = await ok(auditor.get('/v1/audit/events?limit=1000', { headers: { accept: 'text/csv' } }));
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
      const records = csv.text.split('\r\n');
      expect(records.pop()).toBe('');
      expect(records[0]).toBe('position,stream,account,revision,type,occurred_at,credit_type,credits,data_json');
      expect(records).toHaveLength(json.body.events.length + 1);
      const charge = json.body.events.find((e: any) => e.accountId === A && e.revision === '3');
      const line = records.find((r) => r.startsWith(`${charge.position},creditAccount-${A},${A},3,`))!;
      const dataJson = JSON.stringify(charge.data).replace(/"/g, '""');
      expect(line).toBe(`${charge.position},creditAccount-${A},${A},3,RecordsReturned,${day(1)},api,150,"${dataJson}"`);
      const notTriggered = records.find((r) => r.includes(`,${B},5,WebhookNotTriggered,`))!;
      expect(notTriggered).toContain(`,WebhookNotTriggered,${day(9)},,,"{`);
    });

    it('refuses a format it cannot give (406) and prefers what the client rates highest', async () => {
      const xml = await auditor.get('/v1/audit/events', { headers: { accept: 'application/xml' } });
      expect(xml.status).toBe(406);
      expect(xml.body).toMatchObject({ code: 'NOT_ACCEPTABLE' });
      const csv = await ok(auditor.get('/v1/audit/events?limit=1', { headers: { accept: 'application/json;q=0.5, text/csv' } }));
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    });
  });

  describe('statements', () => {
    it("A's year: opening, the charge, then both paid lots expire unrecorded; opening + movements = closing", async () => {
      const from = day(20);
      const to = day(370);
      const statement = await ok(auditor.get(`/v1/audit/accounts/${A}/statement?from=${from}&to=${to}`));
      expect(statement.body).toMatchObject({ accountId: A, from, to, opening: { api: 947, company: 57 }, closing: { api: 0, company: 0 } });
      expect(statement.body.movements).toEqual([
        {
          occurredAt: day(40),
          type: 'charge',
          event: 'RecordsReturned',
          revision: '9',
          creditType: 'api',
          credits: -30,
          balanceAfter: 917,
          requestId: 'a-r2',
          allocations: [{ purchaseId: 'a-api', credits: 30, invoiceId: 'inv-a-1' }],
        },
        {
          occurredAt: expiries['a-api'],
          type: 'expiry',
          event: null,
          revision: null,
          creditType: 'api',
          credits: -917,
          balanceAfter: 0,
          purchaseId: 'a-api',
          invoiceId: 'inv-a-1',
        },
        {
          occurredAt: expiries['a-co'],
          type: 'expiry',
          event: null,
          revision: null,
          creditType: 'company',
          credits: -57,
          balanceAfter: 0,
          purchaseId: 'a-co',
          invoiceId: 'inv-a-2',
        },
      ]);
      for (const creditType of ['api', 'company'] as const) {
        const sum = statement.body.movements.filter((m: any) => m.creditType === creditType).reduce((s: number, m: any) => s + m.credits, 0);
        expect(statement.body.opening[creditType] + sum).toBe(statement.body.closing[creditType]);
      }
    });

    it("B's recorded expiry is one movement, tied to its event; the balances agree with the balance route", async () => {
      const from = day(300);
      const to = day(450);
      const statement = await ok(auditor.get(`/v1/audit/accounts/${B}/statement?from=${from}&to=${to}`));
      expect(statement.body.opening).toEqual({ api: 0, company: 6 });
      expect(statement.body.movements).toEqual([
        expect.objectContaining({ type: 'expiry', event: 'CreditsExpired', revision: '10', occurredAt: expiries['b-co'], creditType: 'company', credits: -6, balanceAfter: 0 }),
        expect.objectContaining({ type: 'purchase', event: 'CreditsPurchased', revision: '11', occurredAt: day(400), creditType: 'api', credits: 10, balanceAfter: 10, purchaseId: 'b-api-2' }),
      ]);
      expect(statement.body.closing).toEqual({ api: 10, company: 0 });
      for (const [instant, balances] of [[from, statement.body.opening], [to, statement.body.closing]] as const) {
        const balance = await ok(admin.get(`/v1/accounts/${B}/balance?asOf=${instant}`));
        expect({ api: balance.body.api.available, company: balance.body.company.available }).toEqual(balances);
      }
    });

    it('is 404 for an unknown account', async () => {
      const unknown = await auditor.get(`/v1/audit/accounts/nobody-${run}/statement?from=${day(0)}&to=${day(1)}`);
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: 'ACCOUNT_NOT_FOUND' });
    });
  });

  describe('liability and breakage', () => {
    const mineOnly = (lots: any[]) => lots.filter((lot) => ours(lot.accountId));

    it('the liability at the end of day 200: paid credits outstanding, valued to the minor unit', async () => {
      const liability = await ok(auditor.get(`/v1/audit/liability?asOf=${date(200)}`));
      expect(liability.body.asOf).toBe(new Date(T0 + 201 * DAY - 1).toISOString());
      const lots = mineOnly(liability.body.lots);
      expect(lots).toEqual([
        {
          accountId: A,
          purchaseId: 'a-api',
          creditType: 'api',
          credits: 1000,
          remaining: 917,
          purchasedAt: day(0),
          expiresAt: expiries['a-api'],
          amountMinor: 9999,
          currency: 'USD',
          invoiceId: 'inv-a-1',
          remainingValueMinor: 9169, // 9999 × 917 / 1000 = 9169.083
        },
        expect.objectContaining({ accountId: A, purchaseId: 'a-co', remaining: 57, amountMinor: 5000, remainingValueMinor: 4750 }),
        expect.objectContaining({ accountId: B, purchaseId: 'b-co', remaining: 6, amountMinor: 1001, currency: 'EUR', remainingValueMinor: 601 }), // 600.6
        expect.objectContaining({ accountId: C, purchaseId: 'c-api', remaining: 40, amountMinor: 1235, currency: 'JPY', remainingValueMinor: 1235 }),
      ]);
      if (lots.length === liability.body.lots.length) {
        // The store holds only this suite's accounts (always so, unless a shared EventStoreDB is used).
        expect(liability.body.totals).toEqual({
          byCurrency: [
            { currency: 'EUR', lots: 1, remainingValueMinor: 601 },
            { currency: 'JPY', lots: 1, remainingValueMinor: 1235 },
            { currency: 'USD', lots: 2, remainingValueMinor: 13919 },
          ],
          byCurrencyAndCreditType: [
            { currency: 'EUR', creditType: 'company', lots: 1, remaining: 6, remainingValueMinor: 601 },
            { currency: 'JPY', creditType: 'api', lots: 1, remaining: 40, remainingValueMinor: 1235 },
            { currency: 'USD', creditType: 'api', lots: 1, remaining: 917, remainingValueMinor: 9169 },
            { currency: 'USD', creditType: 'company', lots: 1, remaining: 57, remainingValueMinor: 4750 },
          ],
        });
      }
    });

    it('the breakage at the end of day 450: expired paid credits, recorded or not', async () => {
      const breakage = await ok(auditor.get(`/v1/audit/breakage?asOf=${date(450)}`));
      expect(mineOnly(breakage.body.lots)).toEqual([
        expect.objectContaining({ accountId: A, purchaseId: 'a-api', remaining: 917, remainingValueMinor: 9169, expiresAt: expiries['a-api'], expiryRecorded: false }),
        expect.objectContaining({ accountId: A, purchaseId: 'a-co', remaining: 57, remainingValueMinor: 4750, expiryRecorded: false }),
        expect.objectContaining({ accountId: B, purchaseId: 'b-co', remaining: 6, remainingValueMinor: 601, expiryRecorded: true }),
      ]);
      if (mineOnly(breakage.body.lots).length === breakage.body.lots.length) {
        expect(breakage.body.totals.byCurrency).toEqual([
          { currency: 'EUR', lots: 1, remainingValueMinor: 601 },
          { currency: 'USD', lots: 2, remainingValueMinor: 13919 },
        ]);
      }
      const liability = await ok(auditor.get(`/v1/audit/liability?asOf=${date(450)}`));
      expect(mineOnly(liability.body.lots)).toEqual([
        expect.objectContaining({ accountId: B, purchaseId: 'b-api-2', remaining: 10, remainingValueMinor: 300, invoiceId: null }),
        expect.objectContaining({ accountId: C, purchaseId: 'c-api', remaining: 40, remainingValueMinor: 1235 }),
      ]);
    });

    it('an instant works as asOf too: just before b-co expired it was a liability, at its expiry breakage', async () => {
      const before = new Date(Date.parse(expiries['b-co']!) - 1).toISOString();
      const liability = await ok(auditor.get(`/v1/audit/liability?asOf=${encodeURIComponent(before)}`));
      expect(mineOnly(liability.body.lots).map((lot: any) => lot.purchaseId)).toContain('b-co');
      const breakage = await ok(auditor.get(`/v1/audit/breakage?asOf=${encodeURIComponent(expiries['b-co']!)}`));
      expect(mineOnly(breakage.body.lots).map((lot: any) => lot.purchaseId)).toContain('b-co');
    });

    it('both export as CSV, one line per lot', async () => {
      const csv = await ok(auditor.get(`/v1/audit/liability?asOf=${date(200)}`, { headers: { accept: 'text/csv' } }));
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      const records = csv.text.split('\r\n');
      expect(records[0]).toBe('account_id,purchase_id,credit_type,credits,remaining,purchased_at,expires_at,amount_minor,currency,invoice_id,remaining_value_minor');
      expect(records).toContain(`${A},a-api,api,1000,917,${day(0)},${expiries['a-api']},9999,USD,inv-a-1,9169`);
      const breakage = await ok(auditor.get(`/v1/audit/breakage?asOf=${date(450)}`, { headers: { accept: 'text/csv' } }));
      expect(breakage.text.split('\r\n')).toContain(`${B},b-co,company,10,6,${day(6)},${expiries['b-co']},1001,EUR,inv-b-2,601,true`);
    });
  });

  describe('access and bad input', () => {
    const routes = () => [
      `/v1/accounts/${A}/events`,
      '/v1/audit/events',
      `/v1/audit/accounts/${A}/statement?from=${day(0)}&to=${day(1)}`,
      `/v1/audit/liability?asOf=${date(10)}`,
      `/v1/audit/breakage?asOf=${date(10)}`,
    ];

    it('needs a token (401) with the audit:read scope (403)', async () => {
      const reader = httpClient(ledger.url, TOKENS.reader);
      for (const route of routes()) {
        expect((await httpClient(ledger.url).get(route)).status).toBe(401);
        const forbidden = await reader.get(route);
        expect(forbidden.status).toBe(403);
        expect(forbidden.body).toMatchObject({ code: 'SCOPE_MISSING', requiredScope: 'audit:read' });
        expect((await auditor.get(route)).status).toBe(200);
      }
    });

    it.each([
      ['/v1/accounts/ACCOUNT/events?limit=0', 'limit'],
      ['/v1/accounts/ACCOUNT/events?limit=1001', 'limit'],
      ['/v1/accounts/ACCOUNT/events?limit=ten', 'limit'],
      ['/v1/accounts/ACCOUNT/events?from=-1', 'from'],
      ['/v1/accounts/ACCOUNT/events?from=1.5', 'from'],
      ['/v1/accounts/ACCOUNT/events?from=9223372036854775808', 'from'],
      ['/v1/accounts/ACCOUNT/events?limit=1&limit=2', 'limit'],
      ['/v1/accounts/ACCOUNT/events?page=2', 'page'],
      ['/v1/accounts/bad%20id/events', 'accountId'],
      ['/v1/audit/events?after=latest', 'after'],
      ['/v1/audit/events?after=99999999999999999999', 'after'],
      ['/v1/audit/events?limit=5000', 'limit'],
      ['/v1/audit/accounts/ACCOUNT/statement?from=2026-01-01T00:00:00Z', 'to'],
      ['/v1/audit/accounts/ACCOUNT/statement?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['/v1/audit/accounts/ACCOUNT/statement?from=2026-01-01T00:00:00&to=2026-02-01T00:00:00Z', 'from'],
      ['/v1/audit/accounts/ACCOUNT/statement?from=2026-01-01T00:00:00Z&to=2999-01-01T00:00:00Z', 'to'],
      ['/v1/audit/liability?asOf=yesterday', 'asOf'],
      ['/v1/audit/liability?asOf=2026-02-30', 'asOf'],
      ['/v1/audit/breakage?asOf=2999-01-01', 'asOf'],
    ])('%s is a 400 naming %s', async (route, field) => {
      const response = await auditor.get(route.replace('ACCOUNT', A));
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(response.body.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('is 404 ACCOUNT_NOT_FOUND for the events of an unknown account', async () => {
      const unknown = await auditor.get(`/v1/accounts/nobody-${run}/events`);
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: 'ACCOUNT_NOT_FOUND', status: 404 });
    });
  });

  it('none of these reads wrote anything', async () => {
    const before = await headPosition();
    expect(before).toBeDefined();
    const count = async () => (await store.countEvents(dataDir, `creditAccount-${A}`)) + (await store.countEvents(dataDir, `creditAccount-${B}`));
    const eventsBefore = await count();
    expect(eventsBefore).toBe(22);
    for (const route of [
      `/v1/accounts/${A}/events`,
      '/v1/audit/events?limit=1000',
      `/v1/audit/accounts/${A}/statement?from=${day(0)}&to=${day(499)}`,
      `/v1/audit/accounts/${B}/statement?from=${day(0)}&to=${day(499)}`,
      `/v1/audit/liability`,
      `/v1/audit/breakage`,
      `/v1/audit/liability?asOf=${date(450)}`,
    ]) {
      await ok(auditor.get(route));
    }
    await ok(auditor.get('/v1/audit/events', { headers: { accept: 'text/csv' } }));
    expect(await headPosition()).toEqual(before);
    expect(await count()).toBe(eventsBefore);
  });
});
