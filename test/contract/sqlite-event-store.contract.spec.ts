import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '#event-store';
import { describeEventStoreContract } from './event-store.contract.js';

describeEventStoreContract('SqliteEventStore', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'sqlite-event-store-'));
  const file = join(directory, 'events.db');
  let store = SqliteEventStore.open(file, { pollIntervalMs: 20 });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = SqliteEventStore.open(file, { pollIntervalMs: 20 });
      return store;
    },
    cleanup: async () => {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});
