import type { AccountSnapshots } from '../snapshots/account-snapshots.port.js';

/**
 * `snapshots` with some of its methods replaced (a write made slow, refused or recorded; a load of an
 * older snapshot). Closing it leaves `snapshots` open: the test closes that itself.
 */
export function snapshotsWith(snapshots: AccountSnapshots, overrides: Partial<AccountSnapshots>): AccountSnapshots {
  return {
    load: (accountId) => snapshots.load(accountId),
    findEntry: (accountId, key) => snapshots.findEntry(accountId, key),
    findWindows: (accountId, companyIds) => snapshots.findWindows(accountId, companyIds),
    saveEntries: (accountId, revision, entries) => snapshots.saveEntries(accountId, revision, entries),
    saveSnapshot: (accountId, snapshot) => snapshots.saveSnapshot(accountId, snapshot),
    storedKeys: (accountId) => snapshots.storedKeys(accountId),
    close: async () => undefined,
    ...overrides,
  };
}
