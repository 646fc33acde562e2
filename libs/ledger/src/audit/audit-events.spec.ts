import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { creditAccountStream, InconsistentHistoryError, type CreditAccountEvent } from '#domain';
import { SqliteEventStore } from '#event-store';
import { purchaseCredits, chargeRecords, at } from '../../../domain/src/testing/credit-account.fixtures.js';
import { historyOf } from '../../../domain/src/testing/decider-specification.js';
import { encodeEvent } from '../events/event-codec.js';
import {
  formatPosition,
  ledgerEventsCsv,
  ledgerEventsNdjson,
  parsePosition,
  readAccountEvents,
  readLedgerEvents,
  type LedgerEventView,
} from './audit-events.js';
import { readAccountStatement, readFinancePosition } from './audit-reads.js';
import { financePositionScript } from './finance-position.threads.js';
import { storeWith } from '../testing/store-with.js';

const JAN_1 = at('2026-01-01T00:00:00.000Z');
const HOUR = 3_600_000;

function historyFor(accountId: string, charges: number, start = JAN_1): CreditAccountEvent[] {
  return historyOf(
    { ...purchaseCredits({ purchaseId: 'p', credits: 1000, amountMinor: 5000, currency: 'USD', invoiceId: 'inv,1', occurredAt: start }), accountId },
    ...Array.from({ length: charges }, (_, i) => ({
      ...chargeRecords({ requestId: `r-${i}`, endpoint: 'job_search' as const, records: 1 + i, occurredAt: start + (i + 1) * HOUR }),
      accountId,
    })),
  );
}

describe('reading the ledger for audit', () => {
  let dir: string;
  let store: SqliteEventStore;

  async function write(accountId: string, events: readonly CreditAccountEvent[], from: bigint | 'no_stream' = 'no_stream') {
    await store.appendToStream(
      creditAccountStream(accountId),
      events.map((event) => encodeEvent(event, randomUUID(), 'test', { correlationId: 'c', actor: 'spec' })),
      { expectedRevision: from },
    );
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-audit-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
    // Interleaved commits: a1 (4 events), another service's stream, b (3 events, back-filled a year earlier), a2 (2 more).
    const a = historyFor('a', 5);
    await write('a', a.slice(0, 4));
    await store.appendToStream('invoices-2026', [{ id: randomUUID(), type: 'InvoiceIssued', data: { n: 1 } }], { expectedRevision: 'no_stream' });
    await write('b', historyFor('b', 2, JAN_1 - 365 * 24 * HOUR));
    await write('a', a.slice(4), 3n);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('positions as text', () => {
    it.each([
      [{ commit: 0n, prepare: 0n }, '0'],
      [{ commit: 1234n, prepare: 1234n }, '1234'],
      [{ commit: 9223372036854775807n, prepare: 9223372036854775807n }, '9223372036854775807'],
      [{ commit: 200n, prepare: 180n }, '200:180'],
    ])('%j is %s and back', (position, text) => {
      expect(formatPosition(position)).toBe(text);
      expect(parsePosition(text)).toEqual(position);
    });

    it.each(['', '-1', '01', '1.5', '1e3', '12:', ':12', '9223372036854775808', '1:2:3', ' 1', '0x10'])('%j is not one', (text) => {
      expect(parsePosition(text)).toBeUndefined();
    });
  });

  describe("an account's events", () => {
    it('pages through the stream in revision order until next is null', async () => {
      const seen: string[] = [];
      let from: string | null = '0';
      let pages = 0;
      while (from !== null) {
        const page = await readAccountEvents(store, 'a', { from: BigInt(from), limit: 4 });
        seen.push(...page!.events.map((e) => e.revision));
        from = page!.next;
        pages += 1;
      }
      expect(seen).toEqual(['0', '1', '2', '3', '4', '5']);
      expect(pages).toBe(2);
    });

    it('says where each event sits and when it happened, apart from when it was stored', async () => {
      const page = await readAccountEvents(store, 'b', { from: 0n, limit: 100 });
      expect(page!.next).toBeNull();
      expect(page!.events[0]).toMatchObject({
        revision: '0',
        type: 'CreditsPurchased',
        occurredAt: '2025-01-01T00:00:00.000Z',
        data: expect.objectContaining({ accountId: 'b', purchaseId: 'p', credits: 1000, invoiceId: 'inv,1' }),
        metadata: expect.objectContaining({ causationId: 'test', occurredAt: '2025-01-01T00:00:00.000Z' }),
      });
      expect(Date.parse(page!.events[0]!.recordedAt)).toBeGreaterThan(Date.parse('2026-01-01'));
    });

    it('gives an empty last page past the end, and nothing for an unknown account', async () => {
      expect(await readAccountEvents(store, 'a', { from: 6n, limit: 10 })).toEqual({ accountId: 'a', events: [], next: null });
      expect(await readAccountEvents(store, 'nobody', { from: 0n, limit: 10 })).toBeUndefined();
    });

    it('has no next page when the last page is exactly full', async () => {
      const page = await readAccountEvents(store, 'a', { from: 0n, limit: 6 });
      expect(page!.events).toHaveLength(6);
      expect(page!.next).toBeNull();
    });
  });

  describe("the whole ledger's events", () => {
    async function readAllPages(limit: number): Promise<{ events: LedgerEventView[]; pages: number }> {
      const events: LedgerEventView[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await readLedgerEvents(store, { ...(after ? { after: parsePosition(after)! } : {}), limit });
        events.push(...page.events);
        pages += 1;
        if (!page.next) return { events, pages };
        after = page.next.after;
      }
    }

    it('come in commit order, only from the ledger\'s streams, each once, whatever the page size', async () => {
      for (const limit of [1, 3, 4, 9, 1000]) {
        const { events, pages } = await readAllPages(limit);
        expect(events.map((e) => `${e.accountId}@${e.revision}`)).toEqual(['a@0', 'a@1', 'a@2', 'a@3', 'b@0', 'b@1', 'b@2', 'a@4', 'a@5']);
        expect(pages).toBe(Math.max(1, Math.ceil(9 / limit)));
        const positions = events.map((e) => BigInt(e.position));
        expect(positions).toEqual([...positions].sort((x, y) => (x < y ? -1 : 1)));
        expect(events.every((e) => e.streamId === `creditAccount-${e.accountId}`)).toBe(true);
      }
    });

    it('start strictly after the cursor', async () => {
      const first = await readLedgerEvents(store, { limit: 2 });
      const rest = await readLedgerEvents(store, { after: parsePosition(first.next!.after)!, limit: 1 });
      expect(rest.events[0]!.position).not.toBe(first.events[1]!.position);
      expect(rest.events[0]).toMatchObject({ accountId: 'a', revision: '2' });
    });

    it('export as NDJSON, one event per line', async () => {
      const { events } = await readLedgerEvents(store, { limit: 3 });
      const lines = ledgerEventsNdjson(events).split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[3]).toBe('');
      expect(lines.slice(0, 3).map((line) => JSON.parse(line))).toEqual(JSON.parse(JSON.stringify(events)));
    });

    it('export as CSV with the credits moved and the whole data as JSON', async () => {
      const { events } = await readLedgerEvents(store, { limit: 2 });
      const csv = ledgerEventsCsv(events);
      const [header, purchase, charge, end] = csv.split('\r\n');
      expect(header).toBe('position,stream,account,revision,type,occurred_at,credit_type,credits,data_json');
      expect(end).toBe('');
      expect(purchase).toMatch(/^\d+,creditAccount-a,a,0,CreditsPurchased,2026-01-01T00:00:00\.000Z,api,1000,"\{""accountId"":""a"",/);
      expect(purchase).toContain('""invoiceId"":""inv,1""');
      expect(charge).toMatch(/^\d+,creditAccount-a,a,1,RecordsReturned,2026-01-01T01:00:00\.000Z,api,1,"\{/);
    });
  });

  describe('reports folded from the store', () => {
    it("a statement reads the account's stream up to the end of the period", async () => {
      const statement = await readAccountStatement(store, 'a', { from: JAN_1, to: JAN_1 + 3 * HOUR });
      expect(statement).toMatchObject({ opening: { api: 1000 }, closing: { api: 994 } });
      expect(statement!.movements.map((m) => [m.revision, m.credits, m.balanceAfter])).toEqual([
        ['1', -1, 999],
        ['2', -2, 997],
        ['3', -3, 994],
      ]);
      expect(await readAccountStatement(store, 'nobody', { from: JAN_1, to: JAN_1 })).toBeUndefined();
    });

    it('the finance position reads all of $all, not stopping at a later-dated event', async () => {
      // b's history (2025) was committed after a's 2026 events: a read that stopped at the first event
      // after asOf would never see it.
      const position = await readFinancePosition(store, JAN_1 - 1);
      expect(position.liability().lots).toEqual([
        expect.objectContaining({ accountId: 'b', purchaseId: 'p', remaining: 997, remainingValueMinor: 4985 }),
      ]);
      // A year on, b's lot has expired (breakage) and a's is spent down to 985 credits.
      const later = await readFinancePosition(store, JAN_1 + 10 * HOUR);
      expect(later.liability().lots).toEqual([expect.objectContaining({ accountId: 'a', remaining: 985, remainingValueMinor: 4925 })]);
      expect(later.breakage().lots).toEqual([
        expect.objectContaining({ accountId: 'b', remaining: 997, remainingValueMinor: 4985, expiryRecorded: false }),
      ]);
    });

    it('the finance position is the same read as text, page after page, as through readAll', async () => {
      // 300 more accounts: 1,810 events, past a page of text.
      for (let i = 0; i < 300; i++) await write(`m-${i}`, historyFor(`m-${i}`, 5, JAN_1 + i * HOUR));
      const withoutText = storeWith(store, { readAllText: undefined });
      for (const asOf of [JAN_1 - 1, JAN_1 + 100 * HOUR, JAN_1 + 400 * HOUR]) {
        const text = await readFinancePosition(store, asOf);
        const decoded = await readFinancePosition(withoutText, asOf);
        expect(text.liability()).toEqual(decoded.liability());
        expect(text.breakage()).toEqual(decoded.breakage());
      }
      // a's lot and every one of the 300 (b's has expired): the text was read to its end, and the event
      // loop turned between its pages (the request thread serves charges meanwhile).
      let turns = 0;
      let ticking = true;
      const tick = () => {
        if (!ticking) return;
        turns += 1;
        setImmediate(tick);
      };
      setImmediate(tick);
      const position = await readFinancePosition(store, JAN_1 + 400 * HOUR);
      ticking = false;
      expect(position.liability().lots).toHaveLength(301);
      expect(turns).toBeGreaterThan(0);
    });

    it('the finance position folded in worker threads, a shard of accounts each, is the one folded here', async () => {
      for (let i = 0; i < 300; i++) await write(`m-${i}`, historyFor(`m-${i}`, 5, JAN_1 + i * HOUR));
      expect(financePositionScript()).toBeDefined(); // built: the threads run
      // The threads read the file themselves: the thread asking reads nothing but the head.
      const refuse = () => {
        throw new Error('read in the thread asking');
      };
      const readsNothingHere = storeWith(store, { readAll: refuse, readAllText: refuse });
      const all = await readFinancePosition(readsNothingHere, JAN_1 + 400 * HOUR, { eventsFile: store.file, threads: 2 });
      expect(all.liability().lots).toHaveLength(301);
      for (const asOf of [JAN_1 - 1, JAN_1 + 100 * HOUR, JAN_1 + 400 * HOUR]) {
        const here = await readFinancePosition(store, asOf);
        for (const threads of [1, 3]) {
          const threaded = await readFinancePosition(store, asOf, { eventsFile: store.file, threads });
          expect(threaded.liability()).toEqual(here.liability());
          expect(threaded.breakage()).toEqual(here.breakage());
        }
      }
    });

    it('a history the rules never produce fails the same way in a thread as here', async () => {
      const spent = historyFor('z', 1);
      const charge = spent[1] as Extract<CreditAccountEvent, { type: 'RecordsReturned' }>;
      // The same charge twice more than its lot holds: the fold finds the lot overdrawn.
      const overdrawn = { ...charge, data: { ...charge.data, requestId: 'r-x', credits: 5000, allocations: [{ purchaseId: 'p', credits: 5000 }] } };
      await write('z', [spent[0]!, overdrawn]);
      const here = await readFinancePosition(store, JAN_1 + 400 * HOUR).catch((error: unknown) => error);
      expect(here).toBeInstanceOf(InconsistentHistoryError);
      for (const threads of [1, 2]) {
        const threaded = await readFinancePosition(store, JAN_1 + 400 * HOUR, { eventsFile: store.file, threads }).catch((error: unknown) => error);
        expect(threaded).toBeInstanceOf(InconsistentHistoryError);
        expect((threaded as Error).message).toBe((here as Error).message);
      }
    });
  });
});
