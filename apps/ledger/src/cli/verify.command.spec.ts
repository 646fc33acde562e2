import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { entryOfText, entryText, type IdempotencyEntry } from '#domain';
import { collect, SqliteEventStore } from '#event-store';
import { CreditAccountWriter, LEDGER_PROJECTIONS, SqliteAccountSnapshots, SqliteReadModelStore, type Clock, type SubmittedCommand } from '#ledger';
import { storeWith } from '../../../../libs/ledger/src/testing/store-with.js';
import { catchUpReadModels } from './ledger-history.js';
import { verify, type VerifyProgress } from './verify.command.js';

const context = { correlationId: 'corr-1', actor: 'test-suite' };

/** `with_credits_charged(entry, n)` in SQL: a stored idempotency entry claiming another charge. */
function withEntryEdits(db: Database.Database): Database.Database {
  db.function('with_credits_charged', (text: unknown, credits: unknown) =>
    entryText({ ...entryOfText(String(text)), creditsCharged: Number(credits) } as IdempotencyEntry),
  );
  return db;
}

describe('ledger verify, on the account snapshots the writer loads', () => {
  let dir: string;
  let store: SqliteEventStore;
  let readModels: SqliteReadModelStore;
  let snapshotsFile: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    snapshotsFile = join(dir, 'account-snapshots.sqlite');

    // A team's history with a snapshot every 10 events: charges, webhooks and reveals (some companies
    // revealed again, inside and after their windows), so entries and windows are stored at several revisions.
    let now = Date.parse('2026-03-01T09:00:00.000Z');
    const clock: Clock = { now: () => now };
    const snapshots = SqliteAccountSnapshots.open(snapshotsFile);
    const writer = new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 10 });
    const run = (command: SubmittedCommand) => writer.execute(command, context);
    await run({ type: 'PurchaseCredits', accountId: 'team', purchaseId: 'api-1', creditType: 'api', credits: 10_000, paid: true, amountMinor: 100, currency: 'USD' });
    await run({ type: 'PurchaseCredits', accountId: 'team', purchaseId: 'co-1', creditType: 'company', credits: 500, paid: true, amountMinor: 100, currency: 'USD' });
    for (let i = 0; i < 60; i++) {
      await run({ type: 'ChargeRecords', accountId: 'team', requestId: `r-${i}`, endpoint: 'job_search', records: 1 + (i % 4), allowPartial: false });
      if (i % 3 === 0) await run({ type: 'DispatchWebhook', accountId: 'team', webhookEventId: `e-${i}`, webhookId: 'hook', recordType: 'company' });
      if (i % 4 === 0) {
        const companyIds = [`c-${i % 7}`, `c-${(i + 3) % 11}`];
        await run({ type: 'RevealCompanies', accountId: 'team', requestId: `v-${i}`, companyIds, action: 'reveal', allowPartial: false });
      }
      now += 5 * 86_400_000;
    }
    await writer.close();
    await snapshots.close();
  });

  afterEach(async () => {
    readModels.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function verified() {
    const snapshots = SqliteAccountSnapshots.open(snapshotsFile);
    try {
      return await verify(store, readModels, LEDGER_PROJECTIONS, snapshots);
    } finally {
      await snapshots.close();
    }
  }

  function tamper(sql: string): void {
    const db = withEntryEdits(new Database(snapshotsFile));
    try {
      expect(db.prepare(sql).run().changes).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  }

  it('finds every stored row equal to the fold of the events at its revision', async () => {
    const report = await verified();
    expect(report.differences).toEqual([]);
    expect(report.snapshots).toBe(1);
    expect(report.foreignSnapshots).toBe(0);
    // Every key and every company revealed has a row, stored with the snapshot after it.
    expect(report.snapshotRows).toBeGreaterThan(60);
  });

  it('lists a snapshot whose state says otherwise', async () => {
    tamper(`UPDATE account_snapshots SET state = json_set(state, '$.lots[0].remaining', 7)`);
    const { differences } = await verified();
    expect(differences).toEqual([expect.stringMatching(/^snapshot\[team\]@\d+: the stored state differs from the events in lots$/)]);
  });

  it('lists an idempotency entry that says otherwise, or that no event made', async () => {
    tamper(`UPDATE idempotency_entries SET entry = with_credits_charged(entry, 999) WHERE key = 'request:r-5'`);
    tamper(`INSERT INTO idempotency_entries SELECT account_id, version, 'request:never', revision, entry FROM idempotency_entries WHERE key = 'request:r-6'`);
    const { differences } = await verified();
    expect([...differences].sort()).toEqual([
      expect.stringMatching(/^snapshot\[team\]@\d+: idempotency entry request:never is stored, but the events hold no such key$/),
      expect.stringMatching(/^snapshot\[team\]@\d+: idempotency entry request:r-5 is stored as .*"creditsCharged":999.* but the events say .*"creditsCharged":2/),
    ]);
  });

  it('lists the reveal windows of a company that say otherwise', async () => {
    tamper(`UPDATE reveal_windows SET windows = '[]' WHERE company_id = 'c-0'`);
    const { differences } = await verified();
    expect(differences).toEqual([expect.stringMatching(/^snapshot\[team\]@\d+: the reveal windows of c-0 are stored as \[\] but the events say \[\{/)]);
  });

  it('lists rows as of a revision the stream does not have', async () => {
    tamper(`UPDATE reveal_windows SET revision = 100000 WHERE company_id = 'c-1'`);
    const { differences } = await verified();
    expect(differences).toEqual(['snapshot[team]: 1 rows are stored as of revision 100000, which its stream does not have']);
  });

  it('leaves out a snapshot of other history, as the writer does, and counts it', async () => {
    tamper(`UPDATE account_snapshots SET event_id = '00000000-0000-4000-8000-000000000000'`);
    tamper(`UPDATE idempotency_entries SET entry = with_credits_charged(entry, 999) WHERE key = 'request:r-5'`);
    const report = await verified();
    expect(report.differences).toEqual([]);
    expect(report.snapshots).toBe(0);
    expect(report.foreignSnapshots).toBe(1);
  });

  it('counts a snapshot of an account with no stream here as one of other history', async () => {
    tamper(`INSERT INTO account_snapshots SELECT 'ghost', version, revision, event_id, state FROM account_snapshots`);
    const report = await verified();
    expect(report).toMatchObject({ differences: [], accounts: 1, snapshots: 1, foreignSnapshots: 1 });
    expect(report.snapshotRows).toBeGreaterThan(60);
  });
});

describe('ledger verify, on the read models, account by account', () => {
  let dir: string;
  let store: SqliteEventStore;
  let readModels: SqliteReadModelStore;
  let now: number;
  let writer: CreditAccountWriter;
  let writerSnapshots: SqliteAccountSnapshots;
  let snapshotsFile: string;
  const accounts = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-verify-rm-'));
    store = SqliteEventStore.open(join(dir, 'ledger.sqlite'));
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
    now = Date.parse('2026-03-01T09:00:00.000Z');
    snapshotsFile = join(dir, 'account-snapshots.sqlite');
    writerSnapshots = SqliteAccountSnapshots.open(snapshotsFile);
    writer = new CreditAccountWriter(store, { now: () => now }, { snapshots: writerSnapshots, snapshotEvery: 10 });
    // Every projection gets documents: balances, usage, reveal windows, activity, auto recharges, alerts.
    for (const [n, accountId] of accounts.entries()) {
      const run = (command: SubmittedCommand) => writer.execute(command, context);
      await run({ type: 'PurchaseCredits', accountId, purchaseId: 'api-1', creditType: 'api', credits: 100 + n, paid: true, amountMinor: 100, currency: 'USD' });
      await run({ type: 'PurchaseCredits', accountId, purchaseId: 'co-1', creditType: 'company', credits: 50, paid: true, amountMinor: 100, currency: 'USD' });
      await run({ type: 'SetAutoRechargeRule', accountId, creditType: 'api', threshold: 100, credits: 500, enabled: true, setBy: 'ops' });
      await run({ type: 'SetBalanceAlerts', accountId, creditType: 'api', consumedPercents: [50], setBy: 'ops' });
      for (let i = 0; i < 12; i++) {
        await run({ type: 'ChargeRecords', accountId, requestId: `r-${i}`, endpoint: i % 2 ? 'company_search' : 'job_search', records: 1 + ((i + n) % 5), allowPartial: true });
        if (i % 4 === 0) await run({ type: 'DispatchWebhook', accountId, webhookEventId: `e-${i}`, webhookId: 'hook', recordType: 'job' });
        if (i % 3 === 0) await run({ type: 'RevealCompanies', accountId, requestId: `v-${i}`, companyIds: [`c-${i % 4}`, `c-${n}`], action: 'reveal', allowPartial: false });
        now += 7 * 3_600_000;
      }
    }
    await catchUpReadModels(store, readModels, LEDGER_PROJECTIONS);
  });

  afterEach(async () => {
    await writer.close();
    await writerSnapshots.close();
    readModels.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function readModelSql(projection: string, sql: (table: string) => string): void {
    const db = new Database(join(dir, 'read-models.sqlite'));
    try {
      const { table_name: table } = db.prepare('SELECT table_name FROM projection_state WHERE name = ?').get(projection) as { table_name: string };
      expect(db.prepare(sql(table)).run().changes).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  }

  const sorted = (report: { differences: readonly string[] }) => [...report.differences].sort();

  it('finds every document the events produce, and only those, in the read models', async () => {
    const report = await verify(store, readModels, LEDGER_PROJECTIONS);
    expect(report.differences).toEqual([]);
    expect(report.accounts).toBe(accounts.length);
    expect(report.events).toBe((await collect(store.readAll())).length);
    const rows = LEDGER_PROJECTIONS.map((p) => [...readModels.keys(p.name)].length);
    expect(Object.fromEntries(LEDGER_PROJECTIONS.map((p, i) => [p.name, rows[i]! > 0]))).toEqual(Object.fromEntries(LEDGER_PROJECTIONS.map((p) => [p.name, true])));
    expect(report.documents).toBe(rows.reduce((a, b) => a + b, 0));
  });

  it('lists a document missing from a read model, one no event produces, and one that says otherwise', async () => {
    readModelSql('usage', (table) => `DELETE FROM "${table}" WHERE key = (SELECT min(key) FROM "${table}" WHERE key LIKE 'globex|%')`);
    readModelSql('reveal_windows', (table) => `INSERT INTO "${table}" (key, position, doc) SELECT 'nobody|c-9', position, doc FROM "${table}" LIMIT 1`);
    readModelSql('account_activity', (table) => `UPDATE "${table}" SET doc = json_set(doc, '$.credits', 12345) WHERE key = (SELECT max(key) FROM "${table}" WHERE key LIKE 'hooli|%')`);
    const differences = sorted(await verify(store, readModels, LEDGER_PROJECTIONS));
    expect(differences).toEqual([
      expect.stringMatching(/^account_activity\[hooli\|.*\]: read model .*12345.* but the events say /),
      'reveal_windows[nobody|c-9]: in the read model but no event produces it',
      expect.stringMatching(/^usage\[globex\|.*\]: missing from the read model$/),
    ]);
  });

  it('lists a lot the balances show that the events never made or left nothing in', async () => {
    // A trial lot drawn on first, and spent to nothing: it leaves the balances.
    await writer.execute({ type: 'PurchaseCredits', accountId: 'stark', purchaseId: 'tiny', creditType: 'api', credits: 1, paid: false, expiresAt: now + 86_400_000 }, context);
    await writer.execute({ type: 'ChargeRecords', accountId: 'stark', requestId: 'spends-tiny', endpoint: 'job_search', records: 1, allowPartial: false }, context);
    await catchUpReadModels(store, readModels, LEDGER_PROJECTIONS);
    expect((await verify(store, readModels, LEDGER_PROJECTIONS)).differences).toEqual([]);
    readModelSql('balances', (table) => `UPDATE "${table}" SET doc = json_insert(doc, '$.lots[#]', json_object('purchaseId', 'phantom', 'remaining', 5)) WHERE key = 'initech'`);
    readModelSql('balances', (table) => `UPDATE "${table}" SET doc = json_insert(doc, '$.lots[#]', json_object('purchaseId', 'tiny', 'remaining', 1)) WHERE key = 'stark'`);
    const differences = sorted(await verify(store, readModels, LEDGER_PROJECTIONS));
    expect(differences).toEqual([
      'balances[initech]: lot phantom shows 5 remaining, the events leave no credits in such a lot',
      expect.stringMatching(/^balances\[initech\]: read model .*phantom.* but the events say /),
      'balances[stark]: lot tiny shows 1 remaining, the events leave no credits in such a lot',
      expect.stringMatching(/^balances\[stark\]: read model .*tiny.* but the events say /),
    ]);
  });

  it('takes a document stored with its keys in another order for the same document', async () => {
    readModelSql('balances', (table) => `UPDATE "${table}" SET doc = json_remove(doc, '$.accountId') || '' WHERE key = 'stark'`);
    readModelSql('balances', (table) => `UPDATE "${table}" SET doc = json_set(doc, '$.accountId', 'stark') WHERE key = 'stark'`);
    expect((await verify(store, readModels, LEDGER_PROJECTIONS)).differences).toEqual([]);
  });

  it('expects in the read models only the events up to their checkpoints', async () => {
    await writer.execute({ type: 'ChargeRecords', accountId: 'acme', requestId: 'late', endpoint: 'job_search', records: 3, allowPartial: false }, context);
    await writer.execute({ type: 'PurchaseCredits', accountId: 'newcomer', purchaseId: 'p', creditType: 'api', credits: 5, paid: false, expiresAt: now + 1e9 }, context);
    const report = await verify(store, readModels, LEDGER_PROJECTIONS);
    expect(report.differences).toEqual([]);
    expect(report.accounts).toBe(accounts.length + 1);
  });

  it('fails when one of its threads cannot go on', async () => {
    const snapshots = SqliteAccountSnapshots.open(snapshotsFile);
    try {
      const unopenable = join(dir, 'no-such-directory', 'account-snapshots.sqlite');
      await expect(verify(store, readModels, LEDGER_PROJECTIONS, snapshots, { threads: 2, snapshotsFile: unopenable })).rejects.toThrow(/a verification thread|directory does not exist|unable to open/);
    } finally {
      await snapshots.close();
    }
  });

  it('tells how far it has gone, in accounts and events, up to all of them', async () => {
    for (const threads of [1, 3]) {
      const told: VerifyProgress[] = [];
      const report = await verify(store, readModels, LEDGER_PROJECTIONS, undefined, { threads, onProgress: (progress) => told.push(progress) });
      expect(told.at(-1)).toEqual({ accounts: accounts.length, of: accounts.length, events: report.events });
      for (const [i, progress] of told.entries()) {
        expect(progress.of).toBe(accounts.length);
        if (i > 0) expect(progress.accounts).toBeGreaterThanOrEqual(told[i - 1]!.accounts);
      }
    }
  });

  it('gives the same report in several threads, in this one, and through reads that decode every event', async () => {
    await writer.close();
    readModelSql('usage', (table) => `DELETE FROM "${table}" WHERE key LIKE 'umbrella|%'`);
    readModelSql('balances', (table) => `UPDATE "${table}" SET doc = json_set(doc, '$.lots[0].remaining', 1) WHERE key IN ('acme', 'initech')`);
    readModelSql('balance_alerts', (table) => `INSERT INTO "${table}" (key, position, doc) SELECT '99999999999999999999', position, doc FROM "${table}" LIMIT 1`);
    const snapshots = SqliteAccountSnapshots.open(snapshotsFile);
    const snapshotsDb = withEntryEdits(new Database(snapshotsFile));
    snapshotsDb.exec(`UPDATE account_snapshots SET state = json_set(state, '$.lots[0].remaining', 7) WHERE account_id = 'hooli';
      UPDATE idempotency_entries SET entry = with_credits_charged(entry, 999) WHERE account_id = 'globex' AND key = 'request:r-1';
      INSERT INTO account_snapshots SELECT 'ghost', version, revision, event_id, state FROM account_snapshots WHERE account_id = 'stark';
      UPDATE account_snapshots SET event_id = '00000000-0000-4000-8000-000000000000' WHERE account_id = 'acme';`);
    snapshotsDb.close();
    try {
      // Through a store whose own reads of the streams fail: the threads read them.
      const unreadable = () => {
        throw new Error('read in this thread');
      };
      const inThreads = await verify(storeWith(store, { readStream: unreadable, readStreamText: unreadable }), readModels, LEDGER_PROJECTIONS, snapshots, {
        threads: 3,
        snapshotsFile,
      });
      const here = await verify(store, readModels, LEDGER_PROJECTIONS, snapshots, { threads: 1 });
      const decoding = storeWith(store, { streamIds: undefined, readStreamText: undefined });
      const decoded = await verify(decoding, readModels, LEDGER_PROJECTIONS, snapshots, { threads: 1 });
      expect(here.differences.length).toBeGreaterThan(6);
      expect(here.differences).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^balances\[acme\]: lot \S+ shows 1 remaining, the events leave \d+$/),
          expect.stringMatching(/^snapshot\[hooli\]@/),
          expect.stringMatching(/^snapshot\[globex\]@\d+: idempotency entry request:r-1/),
        ]),
      );
      expect(here).toMatchObject({ snapshots: accounts.length - 1, foreignSnapshots: 2 });
      for (const report of [inThreads, decoded]) {
        expect(sorted(report)).toEqual(sorted(here));
        expect({ ...report, differences: [] }).toEqual({ ...here, differences: [] });
      }
    } finally {
      await snapshots.close();
    }
  });
});

