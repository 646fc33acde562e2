import { join } from 'node:path';
import { collect, SqliteEventStore, StreamNotFoundError, type EventStore } from '#event-store';
import { EventStoreDbEventStore } from '#event-store/eventstoredb';
import { EsdbTestServer } from '../esdb-test-server/esdb-test-server.js';

export type StoreMode = 'sqlite' | 'eventstoredb';

/**
 * The store modes an end-to-end suite runs in. EventStoreDB mode uses the real server named by
 * EVENTSTORE_CONNECTION_STRING when it is set, and otherwise the in-memory test server.
 */
export const STORE_MODES: readonly StoreMode[] = ['sqlite', 'eventstoredb'];

export interface StoreUnderTest {
  /** Environment for a ledger process using this store. */
  env(dataDir: string): Record<string, string>;
  /** A second, independent view of the store, to check what was really written. */
  open(dataDir: string): EventStore;
  /** The number of events in one stream, read from the store itself. */
  countEvents(dataDir: string, streamId: string): Promise<number>;
  stop(): Promise<void>;
}

export async function storeUnderTest(mode: StoreMode): Promise<StoreUnderTest> {
  if (mode === 'sqlite') {
    return {
      env: () => ({ LEDGER_STORE: 'sqlite' }),
      open: (dataDir) => SqliteEventStore.open(join(dataDir, 'ledger.sqlite')),
      countEvents: (dataDir, streamId) => countWith(SqliteEventStore.open(join(dataDir, 'ledger.sqlite')), streamId),
      stop: async () => undefined,
    };
  }
  const external = process.env.EVENTSTORE_CONNECTION_STRING;
  const server = external ? undefined : await EsdbTestServer.start();
  // Two seeds make the client discover the leader by gossip, as it does against a cluster.
  const connectionString = external ?? `esdb://127.0.0.1:${server!.port},localhost:${server!.port}?tls=false`;
  return {
    env: () => ({ LEDGER_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: connectionString }),
    open: () => EventStoreDbEventStore.connect(connectionString),
    countEvents: (_dataDir, streamId) => countWith(EventStoreDbEventStore.connect(connectionString), streamId),
    stop: async () => {
      await server?.stop();
    },
  };
}

async function countWith(store: EventStore, streamId: string): Promise<number> {
  try {
    return (await collect(store.readStream(streamId))).length;
  } catch (error) {
    if (error instanceof StreamNotFoundError) return 0;
    throw error;
  } finally {
    await store.close();
  }
}
