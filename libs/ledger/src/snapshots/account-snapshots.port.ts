import type { CompanyWindows, CreditAccountSnapshot, IdempotencyEntry } from '#domain';
import type { KeyFilter } from './key-filter.js';

export const ACCOUNT_SNAPSHOTS = Symbol('ACCOUNT_SNAPSHOTS');

/** An account's state as of one of its events: derived data, never the source of truth. */
export interface StoredSnapshot {
  readonly revision: bigint;
  /** The id of the event at `revision`: a snapshot whose stream says otherwise is someone else's. */
  readonly eventId: string;
  readonly snapshot: CreditAccountSnapshot;
}

/** A snapshot to store, its state already JSON: it is serialized when captured, as the state moves on. */
export interface EncodedSnapshot {
  readonly revision: bigint;
  readonly eventId: string;
  readonly state: string;
  /**
   * The reveal windows of the companies whose windows changed since the account's previous snapshot
   * (JSON), stored with it; the others' rows are already as they were at `revision`.
   */
  readonly windows: readonly (readonly [companyId: string, windows: string])[];
}

/**
 * Snapshots of account states, so that an account with millions of events is loaded from its last
 * snapshot and the events after it; and the idempotency entries of those states, one per key, so a
 * retry of a key however old is still recognised without holding every key in memory. Everything here
 * belongs to one snapshot version (`CREDIT_ACCOUNT_SNAPSHOT_VERSION`); other versions are invisible.
 * Writes resolve once stored; a store may write them in a thread of its own.
 */
export interface AccountSnapshots {
  load(accountId: string): StoredSnapshot | undefined;
  findEntry(accountId: string, key: string): IdempotencyEntry | undefined;
  /**
   * The reveal windows stored for these companies (a company without a row is left out). Each row holds
   * every window its company opened up to the stored snapshot's revision, and none after it.
   */
  findWindows(accountId: string, companyIds: readonly string[]): CompanyWindows;
  /** Idempotency entries as of `revision` (JSON), written ahead of the snapshot that relies on them. */
  saveEntries(accountId: string, revision: bigint, entries: readonly (readonly [string, string])[]): Promise<void>;
  /**
   * Written last, with its reveal windows in the same transaction: a snapshot is only found once every
   * entry it relies on is stored, and no window row is ever ahead of the snapshot stored.
   */
  saveSnapshot(accountId: string, snapshot: EncodedSnapshot): Promise<void>;
  /**
   * Every key with an entry stored for the account, as a filter (a key it does not hold has no entry),
   * taken after the writes already sent are stored.
   */
  storedKeys(accountId: string): Promise<KeyFilter>;
  close(): Promise<void>;
}
