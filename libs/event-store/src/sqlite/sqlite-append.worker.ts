import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
// Relative imports only: the package's index would load the EventStoreDB client into this thread too.
import { SqliteAppender } from './sqlite-append.js';
import {
  postError,
  postOutcomes,
  receiveAppends,
  type AppendThreadReply,
  type AppendThreadRequest,
  type AppendThreadSettings,
} from './sqlite-append.protocol.js';
import { openConnection } from './sqlite-connection.js';

// The append thread of one SqliteEventStore: its appends' transactions, and the fsync of their commits,
// run here on a connection of its own, so the store's thread keeps working meanwhile.

const { filePath, busyTimeoutMs } = workerData as AppendThreadSettings;
const port = parentPort!;
let connection: { readonly db: BetterSqlite3.Database; readonly appender: SqliteAppender } | undefined;

port.on('message', (request: AppendThreadRequest) => {
  switch (request.kind) {
    case 'append':
      port.postMessage(append(request));
      return;
    case 'stop':
      connection?.db.close();
      connection = undefined;
      // With the port closed nothing is left to wait for, and the thread ends.
      port.close();
      return;
    default: {
      const unknown: never = request;
      throw new Error(`Unknown request to the append thread: ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
});

function append({ id, appends, created }: Extract<AppendThreadRequest, { kind: 'append' }>): AppendThreadReply {
  try {
    // Opened at the first append, and again at the next one if it failed: a file that cannot be opened
    // now (locked, missing directory) may be openable later, and the store reports each failure.
    connection ??= connect();
    return { kind: 'appended', id, outcomes: postOutcomes(connection.appender.append(receiveAppends(appends), created)) };
  } catch (error) {
    return { kind: 'failed', id, error: postError(error) };
  }
}

function connect() {
  const db = openConnection(filePath, busyTimeoutMs);
  try {
    return { db, appender: new SqliteAppender(db) };
  } catch (error) {
    db.close();
    throw error;
  }
}
