import { canonicalJson, creditAccountStream, entryOfText, snapshotOf, type CreditAccountSnapshot, type CreditAccountState } from '#domain';
import { StreamNotFoundError, type EventStore } from '#event-store';
import type { StoredAccountRows } from '#ledger';

/** Rows of one account stored as of one of its revisions. */
interface RowsAt {
  readonly entries: { readonly key: string; readonly entry: string }[];
  readonly windows: { readonly companyId: string; readonly windows: string }[];
}

const SHOWN = 300;

function shown(json: string): string {
  return json.length <= SHOWN ? json : `${json.slice(0, SHOWN)}…`;
}

/** Where `verify` finds what the writer may load instead of folding an account's events. */
export interface StoredSnapshotRows {
  /** The accounts with a snapshot. */
  snapshotAccountIds(): Iterable<string>;
  storedRowsOf(accountId: string): StoredAccountRows | undefined;
}

/**
 * What the writer loads instead of folding an account's events, checked against that fold: the stored
 * snapshot at its revision, and each idempotency entry and reveal-window row stored beside it at the
 * revision that row is as of. A snapshot whose stream has another event at its revision belongs to other
 * history (another store behind the same data directory); the writer ignores it, and so does this check,
 * which counts it apart. One account at a time: `forAccount`, then its `check` after each event.
 */
export class SnapshotChecks {
  private checkedSnapshots = 0;
  private checkedRows = 0;
  private foreignSnapshots = 0;

  constructor(
    private readonly source: StoredSnapshotRows,
    private readonly store: EventStore,
  ) {}

  /** Snapshots checked. */
  get snapshots(): number {
    return this.checkedSnapshots;
  }

  /** Snapshots of other history, which the writer ignores. */
  get foreign(): number {
    return this.foreignSnapshots;
  }

  /** Entry and window rows checked. */
  get rows(): number {
    return this.checkedRows;
  }

  /** The checks of one account's stored rows; undefined when it has none of this history. */
  async forAccount(accountId: string): Promise<AccountSnapshotCheck | undefined> {
    const account = this.source.storedRowsOf(accountId);
    if (!account) return undefined;
    if (!(await this.isOfThisHistory(account))) {
      this.foreignSnapshots += 1;
      return undefined;
    }
    this.checkedSnapshots += 1;
    return new AccountSnapshotCheck(account, () => (this.checkedRows += 1));
  }

  /** Counts the snapshots of accounts `verified` does not hold: their streams have no event here. */
  countUnverified(verified: ReadonlySet<string>): void {
    for (const accountId of this.source.snapshotAccountIds()) if (!verified.has(accountId)) this.foreignSnapshots += 1;
  }

  private async isOfThisHistory(account: StoredAccountRows): Promise<boolean> {
    try {
      for await (const event of this.store.readStream(creditAccountStream(account.accountId), { fromRevision: account.revision, maxCount: 1 })) {
        return event.revision === account.revision && event.id === account.eventId;
      }
      return false;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return false;
      throw error;
    }
  }
}

export class AccountSnapshotCheck {
  private readonly rowsAt = new Map<bigint, RowsAt>();

  constructor(
    private readonly account: StoredAccountRows,
    private readonly countRow: () => void,
  ) {
    const at = (revision: bigint) => {
      let found = this.rowsAt.get(revision);
      if (!found) this.rowsAt.set(revision, (found = { entries: [], windows: [] }));
      return found;
    };
    for (const { key, revision, entry } of account.entries) at(revision).entries.push({ key, entry });
    for (const { companyId, revision, windows } of account.windows) at(revision).windows.push({ companyId, windows });
  }

  /** After `state` has folded the account's event at `revision`. */
  check(revision: bigint, state: CreditAccountState, differ: (message: string) => void): void {
    const where = `snapshot[${this.account.accountId}]@${revision}`;
    if (revision === this.account.revision) {
      const stored = JSON.parse(this.account.state) as CreditAccountSnapshot;
      const folded = snapshotOf(state);
      const differing = (Object.keys(folded) as (keyof CreditAccountSnapshot)[]).filter(
        (field) => canonicalJson(stored[field]) !== canonicalJson(folded[field]),
      );
      if (differing.length > 0) differ(`${where}: the stored state differs from the events in ${differing.join(', ')}`);
    }
    const rows = this.rowsAt.get(revision);
    if (!rows) return;
    this.rowsAt.delete(revision);
    for (const { key, entry } of rows.entries) {
      this.countRow();
      const folded = state.idempotency.get(key);
      const stored = canonicalJson(entryOfText(entry));
      if (!folded) differ(`${where}: idempotency entry ${key} is stored, but the events hold no such key`);
      else if (canonicalJson(folded) !== stored) {
        differ(`${where}: idempotency entry ${key} is stored as ${shown(stored)} but the events say ${shown(canonicalJson(folded))}`);
      }
    }
    for (const { companyId, windows } of rows.windows) {
      this.countRow();
      const stored = canonicalJson(JSON.parse(windows));
      const folded = canonicalJson(state.windows.get(companyId) ?? []);
      if (folded !== stored) differ(`${where}: the reveal windows of ${companyId} are stored as ${shown(stored)} but the events say ${shown(folded)}`);
    }
  }

  /** After the account's last event: rows as of revisions its stream does not have. */
  finish(differ: (message: string) => void): void {
    for (const [revision, rows] of this.rowsAt) {
      differ(`snapshot[${this.account.accountId}]: ${rows.entries.length + rows.windows.length} rows are stored as of revision ${revision}, which its stream does not have`);
    }
  }
}
