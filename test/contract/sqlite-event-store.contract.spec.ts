import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type SqliteEventStoreOptions } from '#event-store';
import { describeEventStoreContract } from './event-store.contract.js';

for (const [name, options] of [
  ['SqliteEventStore', { pollIntervalMs: 20 }],
  ['SqliteEventStore appending in a thread', { pollIntervalMs: 20, appendThread: true }],
] satisfies [string, SqliteEventStoreOptions][]) {
  describeEventStoreContract(name, async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sqlite-event-store-'));
    const file = join(directory, 'events.db');
    let store = SqliteEventStore.open(file, options);
    return {
      store,
      reopen: async () => {
        await store.close();
        store = SqliteEventStore.open(file, options);
        return store;
      },
      cleanup: async () => {
        await store.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  });
}
