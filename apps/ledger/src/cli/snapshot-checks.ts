import { canonicalJson, creditAccountStream, snapshotOf, type CreditAccountSnapshot, type CreditAccountState } from '#domain';
import { StreamNotFoundError, type EventStore } from '#event-store';
import type { StoredAccountRows } from '#ledger';

/** Rows of one account stored as of one of its revisions. */
interface RowsAt {
  readonly entries: { readonly key: string; readonly entry: string }[];
  readonly windows: { readonly companyId: string; readonly windows: string }[];
}

interface AccountChecks {
  readonly revision: bigint;
  readonly state: string;
  readonly rowsAt: Map<bigint, RowsAt>;
}

const SHOWN = 300;

function shown(json: string): string {
  return json.length <= SHOWN ? json : `${json.slice(0, SHOWN)}…`;
}

/**
 * What the writer loads instead of folding an account's events, checked against that fold: the stored
 * snapshot at its revision, and each idempotency entry and reveal-window row stored beside it at the
 * revision that row is as of. A snapshot whose stream has another event at its revision belongs to other
 * history (another store behind the same data directory); the writer ignores it, and so does this check,
 * which counts it apart.
 */
export class SnapshotChecks {
  private readonly accounts = new Map<string, AccountChecks>();
  private checkedRows = 0;
  private foreignSnapshots = 0;

  static async load(rows: Iterable<StoredAccountRows>, store: EventStore): Promise<SnapshotChecks> {
    const checks = new SnapshotChecks();
    for (const account of rows) {
      if (!(await checks.isOfThisHistory(store, account))) {
        checks.foreignSnapshots += 1;
        continue;
      }
      const rowsAt = new Map<bigint, RowsAt>();
      const at = (revision: bigint) => {
        let found = rowsAt.get(revision);
        if (!found) rowsAt.set(revision, (found = { entries: [], windows: [] }));
        return found;
      };
      for (const { key, revision, entry } of account.entries) at(revision).entries.push({ key, entry });
      for (const { companyId, revision, windows } of account.windows) at(revision).windows.push({ companyId, windows });
      checks.accounts.set(account.accountId, { revision: account.revision, state: account.state, rowsAt });
    }
    return checks;
  }

  /** Snapshots checked. */
  get snapshots(): number {
    return this.accounts.size;
  }

  /** Snapshots of other history, which the writer ignores. */
  get foreign(): number {
    return this.foreignSnapshots;
  }

  /** Entry and window rows checked. */
  get rows(): number {
    return this.checkedRows;
  }

  /** After `state` has folded the account's event at `revision`. */
  check(accountId: string, revision: bigint, state: CreditAccountState, differ: (message: string) => void): void {
    const account = this.accounts.get(accountId);
    if (!account) return;
    const where = `snapshot[${accountId}]@${revision}`;
    if (revision === account.revision) {
      const stored = JSON.parse(account.state) as CreditAccountSnapshot;
      const folded = snapshotOf(state);
      const differing = (Object.keys(folded) as (keyof CreditAccountSnapshot)[]).filter(
        (field) => canonicalJson(stored[field]) !== canonicalJson(folded[field]),
      );
      if (differing.length > 0) differ(`${where}: the stored state differs from the events in ${differing.join(', ')}`);
    }
    const rows = account.rowsAt.get(revision);
    if (!rows) return;
    account.rowsAt.delete(revision);
    for (const { key, entry } of rows.entries) {
      this.checkedRows += 1;
      const folded = state.idempotency.get(key);
      const stored = canonicalJson(JSON.parse(entry));
      if (!folded) differ(`${where}: idempotency entry ${key} is stored, but the events hold no such key`);
      else if (canonicalJson(folded) !== stored) {
        differ(`${where}: idempotency entry ${key} is stored as ${shown(stored)} but the events say ${shown(canonicalJson(folded))}`);
      }
    }
    for (const { companyId, windows } of rows.windows) {
      this.checkedRows += 1;
      const stored = canonicalJson(JSON.parse(windows));
      const folded = canonicalJson(state.windows.get(companyId) ?? []);
      if (folded !== stored) differ(`${where}: the reveal windows of ${companyId} are stored as ${shown(stored)} but the events say ${shown(folded)}`);
    }
  }

  /** Rows as of revisions the account's stream does not have. */
  finish(differ: (message: string) => void): void {
    for (const [accountId, account] of this.accounts) {
      for (const [revision, rows] of account.rowsAt) {
        differ(`snapshot[${accountId}]: ${rows.entries.length + rows.windows.length} rows are stored as of revision ${revision}, which its stream does not have`);
      }
    }
  }

  private async isOfThisHistory(store: EventStore, account: StoredAccountRows): Promise<boolean> {
    try {
      for await (const event of store.readStream(creditAccountStream(account.accountId), { fromRevision: account.revision, maxCount: 1 })) {
        return event.revision === account.revision && event.id === account.eventId;
      }
      return false;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return false;
      throw error;
    }
  }
}
