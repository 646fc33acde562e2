import { KeyFilter } from '../snapshots/key-filter.js';

/**
 * Lookups in the snapshot store after an account is loaded from a snapshot, before the store is asked
 * for a filter of the account's keys. A lookup costs a few microseconds; a filter is a scan of every key
 * of the account in the store's thread. An account that takes this many new keys is busy enough.
 */
export const LOOKUPS_BEFORE_FILTER = 1_000;

/**
 * Which idempotency keys of an account's state have their entries in the snapshot store and not in
 * memory. A new request id would otherwise cost a lookup in the store, which a busy account pays on
 * every command once its entries have left memory.
 *
 * It answers from a filter that holds every such key (a key it does not hold is new) when it has one:
 * - an account folded in this process holds every key in memory until some leave it for the store, and
 *   each key that leaves is added as it leaves;
 * - an account loaded from a snapshot has its keys in the store, which builds the filter of them
 *   after `LOOKUPS_BEFORE_FILTER` lookups; the keys that leave memory while it is being built are
 *   added once it arrives. Until then, and if building it fails, every key is looked up.
 */
export class EntriesElsewhere {
  private lookups = 0;
  private building = false;
  private readonly leftWhileBuilding: string[] = [];

  private constructor(private filter: KeyFilter | undefined) {}

  /** Every key of the account was in memory until now. */
  static known(): EntriesElsewhere {
    return new EntriesElsewhere(KeyFilter.empty());
  }

  /** The account was loaded from a snapshot: its older keys are in the store, which ones is unknown yet. */
  static unknown(): EntriesElsewhere {
    return new EntriesElsewhere(undefined);
  }

  /** False only if the store holds no entry for `key` that memory lacks. */
  mightHold(key: string): boolean {
    return this.filter === undefined || this.filter.mightHold(key);
  }

  /** An entry left memory, once the store held it. */
  left(key: string): void {
    if (this.filter) this.filter.add(key);
    // A build asked for before the entry was stored may not find it; one asked for after it will.
    else if (this.building) this.leftWhileBuilding.push(key);
  }

  /** A key was looked up in the store; `build` asks the store for the filter when enough were. */
  lookedUp(build: () => Promise<KeyFilter>): void {
    if (this.filter || this.building || ++this.lookups < LOOKUPS_BEFORE_FILTER) return;
    this.building = true;
    void build().then(
      (filter) => {
        for (const key of this.leftWhileBuilding) filter.add(key);
        this.filter = filter;
      },
      () => {
        // Keys stay looked up; a build asked for later finds every key stored until then.
        this.lookups = 0;
      },
    ).finally(() => {
      this.building = false;
      this.leftWhileBuilding.length = 0;
    });
  }
}
