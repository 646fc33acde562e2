import BetterSqlite3 from 'better-sqlite3';
import { CREDIT_ACCOUNT_SNAPSHOT_VERSION, type CreditAccountSnapshot, type IdempotencyEntry } from '#domain';
import type { AccountSnapshots, StoredSnapshot } from './account-snapshots.port.js';

const ROWS_PER_STATEMENT = 100;

function saveEntries(rows: number): string {
  return `INSERT INTO idempotency_entries (account_id, version, key, revision, entry)
    VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}
    ON CONFLICT (account_id, version, key) DO UPDATE SET revision = excluded.revision, entry = excluded.entry
    WHERE excluded.revision >= idempotency_entries.revision`;
}

/**
 * Account snapshots in their own SQLite file beside the read models, whichever event store the ledger
 * uses. Being derived data, the file runs with `synchronous = NORMAL` (consistent after a power loss,
 * perhaps missing the last snapshots, which only means a longer load). The version is part of every key,
 * so two builds with different state shapes can share the file during a rolling deploy without reading
 * each other's rows; a row only ever gives way to one of the same version at a later revision.
 */
export class SqliteAccountSnapshots implements AccountSnapshots {
  private readonly statements;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly version: number,
  ) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.defaultSafeIntegers(true);
    db.exec(`
      CREATE TABLE IF NOT EXISTS account_snapshots (
        account_id TEXT NOT NULL, version INTEGER NOT NULL, revision INTEGER NOT NULL, event_id TEXT NOT NULL,
        state TEXT NOT NULL, PRIMARY KEY (account_id, version)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS idempotency_entries (
        account_id TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, revision INTEGER NOT NULL,
        entry TEXT NOT NULL, PRIMARY KEY (account_id, version, key)) WITHOUT ROWID;`);
    this.statements = {
      load: db.prepare<[string, number], { revision: bigint; event_id: string; state: string }>(
        'SELECT revision, event_id, state FROM account_snapshots WHERE account_id = ? AND version = ?',
      ),
      findEntry: db
        .prepare<[string, number, string], string>('SELECT entry FROM idempotency_entries WHERE account_id = ? AND version = ? AND key = ?')
        .pluck(),
      saveEntry: db.prepare(saveEntries(1)),
      // Many rows a statement: the per-call cost of a statement is most of what one small row costs.
      saveEntryRows: db.prepare(saveEntries(ROWS_PER_STATEMENT)),
      saveSnapshot: db.prepare<[string, number, bigint, string, string]>(
        `INSERT INTO account_snapshots (account_id, version, revision, event_id, state) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (account_id, version) DO UPDATE SET revision = excluded.revision, event_id = excluded.event_id, state = excluded.state
         WHERE excluded.revision > account_snapshots.revision`,
      ),
    };
  }

  static open(file: string, version = CREDIT_ACCOUNT_SNAPSHOT_VERSION): SqliteAccountSnapshots {
    return new SqliteAccountSnapshots(new BetterSqlite3(file), version);
  }

  load(accountId: string): StoredSnapshot | undefined {
    const row = this.statements.load.get(accountId, this.version);
    if (!row) return undefined;
    return { revision: row.revision, eventId: row.event_id, snapshot: JSON.parse(row.state) as CreditAccountSnapshot };
  }

  findEntry(accountId: string, key: string): IdempotencyEntry | undefined {
    const entry = this.statements.findEntry.get(accountId, this.version, key);
    return entry === undefined ? undefined : (JSON.parse(entry) as IdempotencyEntry);
  }

  saveEntries(accountId: string, revision: bigint, entries: readonly (readonly [string, string])[]): void {
    // Sorted, each B-tree page is visited once per slice rather than once per key.
    const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.db.transaction(() => {
      let i = 0;
      for (; i + ROWS_PER_STATEMENT <= sorted.length; i += ROWS_PER_STATEMENT) {
        const parameters: unknown[] = [];
        for (let j = i; j < i + ROWS_PER_STATEMENT; j++) parameters.push(accountId, this.version, sorted[j]![0], revision, sorted[j]![1]);
        this.statements.saveEntryRows.run(parameters);
      }
      for (; i < sorted.length; i++) this.statements.saveEntry.run(accountId, this.version, sorted[i]![0], revision, sorted[i]![1]);
    }).immediate();
  }

  saveSnapshot(accountId: string, stored: StoredSnapshot): void {
    this.statements.saveSnapshot.run(accountId, this.version, stored.revision, stored.eventId, JSON.stringify(stored.snapshot));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
