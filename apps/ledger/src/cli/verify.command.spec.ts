import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteEventStore } from '#event-store';
import { CreditAccountWriter, LEDGER_PROJECTIONS, SqliteAccountSnapshots, SqliteReadModelStore, type Clock, type SubmittedCommand } from '#ledger';
import { verify } from './verify.command.js';

const context = { correlationId: 'corr-1', actor: 'test-suite' };

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
      return await verify(store, readModels, LEDGER_PROJECTIONS, snapshots.storedRows());
    } finally {
      await snapshots.close();
    }
  }

  function tamper(sql: string): void {
    const db = new Database(snapshotsFile);
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
    tamper(`UPDATE idempotency_entries SET entry = json_set(entry, '$.creditsCharged', 999) WHERE key = 'request:r-5'`);
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
    tamper(`UPDATE idempotency_entries SET entry = json_set(entry, '$.creditsCharged', 999) WHERE key = 'request:r-5'`);
    const report = await verified();
    expect(report.differences).toEqual([]);
    expect(report.snapshots).toBe(0);
    expect(report.foreignSnapshots).toBe(1);
  });
});
