import type BetterSqlite3 from 'better-sqlite3';
import type { EncodedSnapshot } from './account-snapshots.port.js';
import { KeyFilter } from './key-filter.js';

const ROWS_PER_STATEMENT = 100;

/** A write of the snapshot file: an account's idempotency entries as of a revision, or its snapshot. */
export type SnapshotFileWrite =
  | {
      readonly kind: 'entries';
      readonly accountId: string;
      readonly revision: bigint;
      readonly entries: readonly (readonly [key: string, entry: string])[];
    }
  | { readonly kind: 'snapshot'; readonly accountId: string; readonly snapshot: EncodedSnapshot };

type EntryRow = readonly [accountId: string, key: string, revision: bigint, entry: string];

function byAccountThenKey(a: EntryRow, b: EntryRow): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

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
  // A transaction of many entries with random keys writes a WAL of up to some hundreds of MiB (see
  // `saveAll`); once checkpointed, the file goes back to this size rather than keeping its largest.
  db.pragma(`journal_size_limit = ${64 * 2 ** 20}`);
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
    this.saveAll([{ kind: 'entries', accountId, revision, entries }]);
  }

  /**
   * The snapshot and its changed reveal windows in one transaction. A snapshot that gives way to a later
   * one stored already writes windows at most as new as that one's.
   */
  saveSnapshot(accountId: string, snapshot: EncodedSnapshot): void {
    this.saveAll([{ kind: 'snapshot', accountId, snapshot }]);
  }

  /**
   * Several writes in one transaction: all of them are stored, or none. Entries are written first and
   * snapshots after them, in the order given; a row giving way only to a later revision, the order of the
   * entries among themselves does not matter.
   *
   * Entries are keyed by their command's key. Keys that sort in the order they are made (numbered request
   * ids) land at the end of the table's B-tree, a page written for many entries; random ones (UUIDs) land
   * anywhere in it, and in a table much larger than the transaction nearly every entry writes a page of
   * its own to the WAL, which the checkpoint writes again. The more entries a transaction holds, the more
   * of them share a page: with 2,000,000 random keys stored, 37-42 µs an entry in transactions of 2,000,
   * 25 in 20,000, 13 in 100,000 (docs/benchmarks.md).
   */
  saveAll(writes: readonly SnapshotFileWrite[]): void {
    const rows: EntryRow[] = [];
    for (const write of writes) {
      if (write.kind === 'entries') for (const [key, entry] of write.entries) rows.push([write.accountId, key, write.revision, entry]);
    }
    // Sorted, each B-tree page is visited once per transaction rather than once per key.
    rows.sort(byAccountThenKey);
    this.db.transaction(() => {
      let i = 0;
      for (; i + ROWS_PER_STATEMENT <= rows.length; i += ROWS_PER_STATEMENT) {
        const parameters: unknown[] = [];
        for (let j = i; j < i + ROWS_PER_STATEMENT; j++) {
          const [accountId, key, revision, entry] = rows[j]!;
          parameters.push(accountId, this.version, key, revision, entry);
        }
        this.saveEntryRows.run(parameters);
      }
      for (; i < rows.length; i++) {
        const [accountId, key, revision, entry] = rows[i]!;
        this.saveEntry.run(accountId, this.version, key, revision, entry);
      }
      for (const write of writes) {
        if (write.kind !== 'snapshot') continue;
        const { accountId, snapshot } = write;
        for (const [companyId, json] of snapshot.windows) this.saveWindowsRow.run(accountId, this.version, companyId, snapshot.revision, json);
        this.saveSnapshotRow.run(accountId, this.version, snapshot.revision, snapshot.eventId, snapshot.state);
      }
    }).immediate();
  }
}
