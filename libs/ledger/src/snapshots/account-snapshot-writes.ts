import type BetterSqlite3 from 'better-sqlite3';
import { KeyFilter } from './key-filter.js';

const ROWS_PER_STATEMENT = 100;

function saveEntriesSql(rows: number): string {
  return `INSERT INTO idempotency_entries (account_id, version, key, revision, entry)
    VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}
    ON CONFLICT (account_id, version, key) DO UPDATE SET revision = excluded.revision, entry = excluded.entry
    WHERE excluded.revision >= idempotency_entries.revision`;
}

/** Opens the snapshot file with its settings and tables, on whichever thread writes or reads it. */
export function openSnapshotFile(db: BetterSqlite3.Database): void {
  db.pragma('journal_mode = WAL');
  // Derived data: consistent after a power loss, perhaps missing the last snapshots (a longer load).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.defaultSafeIntegers(true);
  db.exec(`
    CREATE TABLE IF NOT EXISTS account_snapshots (
      account_id TEXT NOT NULL, version INTEGER NOT NULL, revision INTEGER NOT NULL, event_id TEXT NOT NULL,
      state TEXT NOT NULL, PRIMARY KEY (account_id, version)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS idempotency_entries (
      account_id TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, revision INTEGER NOT NULL,
      entry TEXT NOT NULL, PRIMARY KEY (account_id, version, key)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS reveal_windows (
      account_id TEXT NOT NULL, version INTEGER NOT NULL, company_id TEXT NOT NULL, revision INTEGER NOT NULL,
      windows TEXT NOT NULL, PRIMARY KEY (account_id, version, company_id)) WITHOUT ROWID;`);
}

/**
 * The two writes of a snapshot, shared by the thread that writes them in the background and by a store
 * that writes in the calling thread. A row only ever gives way to one of the same version at a later
 * revision, so a late write never replaces newer data. The filter of an account's stored keys is built
 * here too, so that it follows every write sent before it.
 */
export class AccountSnapshotWrites {
  private readonly saveEntry;
  private readonly saveEntryRows;
  private readonly saveSnapshotRow;
  private readonly saveWindowsRow;
  private readonly countKeys;
  private readonly keys;

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly version: number,
  ) {
    this.saveEntry = db.prepare(saveEntriesSql(1));
    // Many rows a statement: the per-call cost of a statement is most of what one small row costs.
    this.saveEntryRows = db.prepare(saveEntriesSql(ROWS_PER_STATEMENT));
    this.saveSnapshotRow = db.prepare<[string, number, bigint, string, string]>(
      `INSERT INTO account_snapshots (account_id, version, revision, event_id, state) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account_id, version) DO UPDATE SET revision = excluded.revision, event_id = excluded.event_id, state = excluded.state
       WHERE excluded.revision > account_snapshots.revision`,
    );
    this.saveWindowsRow = db.prepare<[string, number, string, bigint, string]>(
      `INSERT INTO reveal_windows (account_id, version, company_id, revision, windows) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account_id, version, company_id) DO UPDATE SET revision = excluded.revision, windows = excluded.windows
       WHERE excluded.revision >= reveal_windows.revision`,
    );
    this.countKeys = db
      .prepare<[string, number], bigint>('SELECT count(*) FROM idempotency_entries WHERE account_id = ? AND version = ?')
      .pluck();
    this.keys = db.prepare<[string, number], string>('SELECT key FROM idempotency_entries WHERE account_id = ? AND version = ?').pluck();
  }

  /** Every key with an entry stored for the account. */
  storedKeys(accountId: string): KeyFilter {
    // One read transaction: the count and the keys agree.
    return this.db.transaction(() =>
      KeyFilter.of(this.keys.iterate(accountId, this.version), Number(this.countKeys.get(accountId, this.version))),
    ).deferred();
  }

  saveEntries(accountId: string, revision: bigint, entries: readonly (readonly [string, string])[]): void {
    // Sorted, each B-tree page is visited once per slice rather than once per key.
    const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.db.transaction(() => {
      let i = 0;
      for (; i + ROWS_PER_STATEMENT <= sorted.length; i += ROWS_PER_STATEMENT) {
        const parameters: unknown[] = [];
        for (let j = i; j < i + ROWS_PER_STATEMENT; j++) parameters.push(accountId, this.version, sorted[j]![0], revision, sorted[j]![1]);
        this.saveEntryRows.run(parameters);
      }
      for (; i < sorted.length; i++) this.saveEntry.run(accountId, this.version, sorted[i]![0], revision, sorted[i]![1]);
    }).immediate();
  }

  /**
   * The snapshot and its changed reveal windows in one transaction. A snapshot that gives way to a later
   * one stored already writes windows at most as new as that one's.
   */
  saveSnapshot(accountId: string, revision: bigint, eventId: string, state: string, windows: readonly (readonly [string, string])[]): void {
    this.db.transaction(() => {
      for (const [companyId, json] of windows) this.saveWindowsRow.run(accountId, this.version, companyId, revision, json);
      this.saveSnapshotRow.run(accountId, this.version, revision, eventId, state);
    }).immediate();
  }
}
