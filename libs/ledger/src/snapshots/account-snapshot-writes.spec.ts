import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AccountSnapshotWrites, openSnapshotFile } from './account-snapshot-writes.js';

describe('AccountSnapshotWrites.saveAll', () => {
  let dir: string;
  let db: BetterSqlite3.Database;
  let writes: AccountSnapshotWrites;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-snapshot-writes-'));
    db = new BetterSqlite3(join(dir, 'account-snapshots.sqlite'));
    openSnapshotFile(db);
    writes = new AccountSnapshotWrites(db, 5);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const entries = (accountId: string) =>
    db.prepare<[string], { key: string; revision: bigint; entry: string }>('SELECT key, revision, entry FROM idempotency_entries WHERE account_id = ? ORDER BY key').all(accountId);
  const snapshotRevision = (accountId: string) =>
    db.prepare<[string], bigint>('SELECT revision FROM account_snapshots WHERE account_id = ?').pluck().get(accountId);

  it('stores the entries of several accounts and revisions and their snapshots together, a later revision kept whatever the order', () => {
    // More rows than one statement takes, in no order, for two accounts.
    const many = Array.from({ length: 250 }, (_, i) => [`request:${(i * 7919) % 1000}`, `line-${i}`] as const);
    writes.saveAll([
      { kind: 'entries', accountId: 'b', revision: 20n, entries: [['request:x', 'b-at-20']] },
      { kind: 'entries', accountId: 'a', revision: 10n, entries: many },
      { kind: 'snapshot', accountId: 'a', snapshot: { revision: 10n, eventId: 'e-a-10', state: '{}', windows: [['co-1', '[]']] } },
      // The same key of 'b' as of an earlier revision, later in the list: the row as of 20 stays.
      { kind: 'entries', accountId: 'b', revision: 15n, entries: [['request:x', 'b-at-15'], ['request:y', 'b-at-15']] },
      { kind: 'snapshot', accountId: 'b', snapshot: { revision: 20n, eventId: 'e-b-20', state: '{}', windows: [] } },
    ]);
    expect(entries('a')).toHaveLength(250);
    expect(entries('a').find((row) => row.key === 'request:919')).toEqual({ key: 'request:919', revision: 10n, entry: 'line-1' });
    expect(entries('b')).toEqual([
      { key: 'request:x', revision: 20n, entry: 'b-at-20' },
      { key: 'request:y', revision: 15n, entry: 'b-at-15' },
    ]);
    expect(snapshotRevision('a')).toBe(10n);
    expect(snapshotRevision('b')).toBe(20n);
    expect(db.prepare('SELECT count(*) FROM reveal_windows').pluck().get()).toBe(1n);
  });

  it('stores none of them when one cannot be stored', () => {
    expect(() =>
      writes.saveAll([
        { kind: 'entries', accountId: 'a', revision: 10n, entries: [['request:1', 'line']] },
        { kind: 'snapshot', accountId: 'a', snapshot: { revision: 10n, eventId: 'e-a-10', state: '{}', windows: [] } },
        { kind: 'entries', accountId: 'b', revision: 10n, entries: [['request:2', null as unknown as string]] },
      ]),
    ).toThrow(/NOT NULL/);
    expect(entries('a')).toEqual([]);
    expect(snapshotRevision('a')).toBeUndefined();
  });
});
