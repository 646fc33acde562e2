import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { CREDIT_ACCOUNT_SNAPSHOT_VERSION, entryOfText, type CompanyWindows, type CreditAccountSnapshot, type IdempotencyEntry } from '#domain';
import { compiledWorkerScript } from '#event-store';
import { AccountSnapshotWrites, openSnapshotFile, type SnapshotFileWrite } from './account-snapshot-writes.js';
import type { AccountSnapshots, EncodedSnapshot, StoredSnapshot } from './account-snapshots.port.js';
import { KeyFilter, type KeyFilterLayer } from './key-filter.js';

export interface SnapshotThreadTask {
  readonly file: string;
  readonly version: number;
}

/** A message to the write thread: a write of the file, or a request for an account's key filter. */
export type SnapshotWrite = (SnapshotFileWrite | { readonly kind: 'keys'; readonly accountId: string }) & { readonly id: number };

export interface SnapshotWriteDone {
  readonly id: number;
  readonly error?: string;
  /** The answer to a `keys` message: the filter's one layer (its bits transferred) and its key count. */
  readonly keys?: { readonly layer: KeyFilterLayer; readonly count: number };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface SqliteAccountSnapshotsOptions {
  /** The snapshot format the rows belong to; other versions' rows are invisible. */
  readonly version?: number;
  /**
   * Write in a worker thread of its own: storing a hot account's idempotency entries is as much work
   * as storing its events, and need not hold up the thread that decides commands.
   */
  readonly writeThread?: boolean;
}

/** An account's rows, as stored (JSON text), for `ledger verify`. */
export interface StoredAccountRows {
  readonly accountId: string;
  readonly revision: bigint;
  readonly eventId: string;
  readonly state: string;
  readonly entries: readonly { readonly key: string; readonly revision: bigint; readonly entry: string }[];
  readonly windows: readonly { readonly companyId: string; readonly revision: bigint; readonly windows: string }[];
}

/** Companies whose windows are read by one statement (a reveal names up to 1,000; a fold may name more). */
const COMPANIES_PER_READ = 5_000;

/**
 * Account snapshots in their own SQLite file beside the read models, whichever event store the ledger
 * uses. Being derived data, the file runs with `synchronous = NORMAL` (consistent after a power loss,
 * perhaps missing the last snapshots, which only means a longer load). The version is part of every key,
 * so two builds with different state shapes can share the file during a rolling deploy without reading
 * each other's rows; a row only ever gives way to one of the same version at a later revision.
 *
 * Reads are served here; writes go to a worker thread when asked, in order, each resolving once stored.
 */
export class SqliteAccountSnapshots implements AccountSnapshots {
  private readonly statements;
  private readonly writes: AccountSnapshotWrites | undefined;
  private readonly script: URL | undefined;
  private worker: Worker | undefined;
  private nextId = 0;
  /** Messages sent to the thread and not yet answered. */
  private readonly pending = new Map<number, { resolve: (done: SnapshotWriteDone) => void; reject: (error: Error) => void; written: Promise<unknown> }>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly version: number,
    writeThread: boolean,
  ) {
    openSnapshotFile(db);
    this.statements = {
      load: db.prepare<[string, number], { revision: bigint; event_id: string; state: string }>(
        'SELECT revision, event_id, state FROM account_snapshots WHERE account_id = ? AND version = ?',
      ),
      // One JSON array built by SQLite and parsed at once, rather than a row object and a parse per company.
      windowsOfMany: db
        .prepare<[string, number, string], string | null>(
          `SELECT '[' || group_concat('[' || json_quote(company_id) || ',' || windows || ']') || ']' FROM reveal_windows
           WHERE account_id = ? AND version = ? AND company_id IN (SELECT value FROM json_each(?))`,
        )
        .pluck(),
      findEntry: db
        .prepare<[string, number, string], string>('SELECT entry FROM idempotency_entries WHERE account_id = ? AND version = ? AND key = ?')
        .pluck(),
      accountIds: db.prepare<[number], string>('SELECT account_id FROM account_snapshots WHERE version = ? ORDER BY account_id').pluck(),
      entriesOf: db.prepare<[string, number], { key: string; revision: bigint; entry: string }>(
        'SELECT key, revision, entry FROM idempotency_entries WHERE account_id = ? AND version = ?',
      ),
      windowsOf: db.prepare<[string, number], { company_id: string; revision: bigint; windows: string }>(
        'SELECT company_id, revision, windows FROM reveal_windows WHERE account_id = ? AND version = ?',
      ),
    };
    if (writeThread) {
      this.script = compiledWorkerScript(import.meta.url, 'account-snapshots.worker');
      if (!this.script) throw new Error('The snapshot write thread has no compiled module: run the build first');
    } else {
      this.writes = new AccountSnapshotWrites(db, version);
    }
  }

  static open(file: string, options: SqliteAccountSnapshotsOptions = {}): SqliteAccountSnapshots {
    return new SqliteAccountSnapshots(
      new BetterSqlite3(file),
      options.version ?? CREDIT_ACCOUNT_SNAPSHOT_VERSION,
      options.writeThread ?? false,
    );
  }

  load(accountId: string): StoredSnapshot | undefined {
    const row = this.statements.load.get(accountId, this.version);
    return row && { revision: row.revision, eventId: row.event_id, snapshot: JSON.parse(row.state) as CreditAccountSnapshot };
  }

  findWindows(accountId: string, companyIds: readonly string[]): CompanyWindows {
    const found: CompanyWindows[number][] = [];
    for (let i = 0; i < companyIds.length; i += COMPANIES_PER_READ) {
      const json = this.statements.windowsOfMany.get(accountId, this.version, JSON.stringify(companyIds.slice(i, i + COMPANIES_PER_READ)));
      if (json) for (const entry of JSON.parse(json) as CompanyWindows) found.push(entry);
    }
    return found;
  }

  findEntry(accountId: string, key: string): IdempotencyEntry | undefined {
    const entry = this.statements.findEntry.get(accountId, this.version, key);
    return entry === undefined ? undefined : entryOfText(entry);
  }

  /** The accounts with a snapshot of this version, in id order. */
  snapshotAccountIds(): string[] {
    return this.statements.accountIds.all(this.version);
  }

  /**
   * An account's snapshot of this version with the idempotency entries and reveal windows stored beside
   * it: what the writer may load instead of folding its events, for `ledger verify` to check.
   */
  storedRowsOf(accountId: string): StoredAccountRows | undefined {
    const row = this.statements.load.get(accountId, this.version);
    if (!row) return undefined;
    return {
      accountId,
      revision: row.revision,
      eventId: row.event_id,
      state: row.state,
      entries: this.statements.entriesOf.all(accountId, this.version),
      windows: this.statements.windowsOf.all(accountId, this.version).map((w) => ({ companyId: w.company_id, revision: w.revision, windows: w.windows })),
    };
  }

  async saveEntries(accountId: string, revision: bigint, entries: readonly (readonly [string, string])[]): Promise<void> {
    await this.send({ kind: 'entries', accountId, revision, entries }, (writes) => writes.saveEntries(accountId, revision, entries));
  }

  async saveSnapshot(accountId: string, snapshot: EncodedSnapshot): Promise<void> {
    await this.send({ kind: 'snapshot', accountId, snapshot }, (writes) => writes.saveSnapshot(accountId, snapshot));
  }

  /** Built by the write thread, if there is one, after the writes sent before: a scan of the account's keys. */
  async storedKeys(accountId: string): Promise<KeyFilter> {
    let built: KeyFilter | undefined;
    const done = await this.send({ kind: 'keys', accountId }, (writes) => {
      built = writes.storedKeys(accountId);
    });
    if (built) return built;
    if (!done?.keys) throw new Error('The snapshot write thread answered a key filter request without one');
    return KeyFilter.fromLayer(done.keys.layer, done.keys.count);
  }

  /** Waits for the writes already sent, then closes the file (and the write thread). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.pending.values()].map(({ written }) => written));
      const worker = this.worker;
      if (worker) {
        const exited = once(worker, 'exit');
        worker.postMessage('close');
        await exited.catch(() => undefined);
      }
      if (this.db.open) this.db.close();
    })();
    return this.closing;
  }

  /** Runs `here` when this thread writes; otherwise sends `message` and resolves with the thread's answer. */
  private send(message: DistributiveOmit<SnapshotWrite, 'id'>, here: (writes: AccountSnapshotWrites) => void): Promise<SnapshotWriteDone | undefined> {
    if (this.closing) return Promise.reject(new Error('The snapshot store is closed'));
    if (this.writes) {
      try {
        here(this.writes);
        return Promise.resolve(undefined);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const id = this.nextId++;
    let settle!: { resolve: (done: SnapshotWriteDone) => void; reject: (error: Error) => void };
    const written = new Promise<SnapshotWriteDone>((resolve, reject) => (settle = { resolve, reject }));
    this.pending.set(id, { ...settle, written });
    this.thread().postMessage({ ...message, id } as SnapshotWrite);
    return written;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script!, { workerData: { file: this.db.name, version: this.version } satisfies SnapshotThreadTask });
    worker.on('message', (done: SnapshotWriteDone) => {
      const waiting = this.pending.get(done.id);
      this.pending.delete(done.id);
      if (done.error === undefined) waiting?.resolve(done);
      else waiting?.reject(new Error(`Snapshot write failed: ${done.error}`));
    });
    const fail = (reason: string) => {
      if (this.worker === worker) this.worker = undefined;
      // Whatever was not acknowledged may not be stored; snapshots are an optimisation, the caller re-sends.
      for (const waiting of this.pending.values()) waiting.reject(new Error(`Snapshot write thread ${reason}`));
      this.pending.clear();
    };
    worker.on('error', (error) => fail(`failed: ${error.message}`));
    worker.on('exit', (code) => fail(`exited (code ${code})`));
    this.worker = worker;
    return worker;
  }
}
