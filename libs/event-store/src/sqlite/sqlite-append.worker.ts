import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
// Relative imports only: the package's index would load the EventStoreDB client into this thread too.
import { CommitSignal } from './commit-signal.js';
import { SqliteAppender, storedEvents } from './sqlite-append.js';
import {
  postError,
  postOutcomes,
  receiveAppends,
  type AppendThreadReply,
  type AppendThreadRequest,
  type AppendThreadSettings,
} from './sqlite-append.protocol.js';
import { openConnection } from './sqlite-connection.js';
import { takeBackgroundCpus } from '../thread-placement.js';

// The append thread of one SqliteEventStore: its appends' transactions, and the fsync of their commits,
// run here on a connection of its own, so the store's thread keeps working meanwhile.

takeBackgroundCpus();
const { filePath, busyTimeoutMs, commitSignal, walFrameLimit } = workerData as AppendThreadSettings;
const port = parentPort!;
let connection: { readonly db: BetterSqlite3.Database; readonly appender: SqliteAppender } | undefined;

/** The sizes of a WAL file's parts besides its pages (SQLite's file format). */
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;

type AppendMessage = Extract<AppendThreadRequest, { kind: 'append' }>;

/**
 * Appends that arrived while the thread was busy (committing the previous ones) are committed together,
 * in one transaction and one fsync: group commit again, one level down, when the store's caller has
 * several group commits in flight. Each still gets its own outcomes.
 */
let waiting: AppendMessage[] = [];

port.on('message', (request: AppendThreadRequest) => {
  switch (request.kind) {
    case 'append':
      waiting.push(request);
      if (waiting.length === 1) setImmediate(appendWaiting);
      return;
    case 'stop':
      appendWaiting();
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

function appendWaiting(): void {
  const requests = waiting;
  waiting = [];
  if (requests.length === 0) return;
  if (requests.length > 1) {
    try {
      connection ??= connect();
      const groups = requests.map(({ appends, created }) => ({ appends: receiveAppends(appends), created }));
      const outcomes = connection.appender.appendTogether(groups);
      // Before the replies: whoever hears of an append can count on the signal having moved.
      if (groups.some((group, i) => storedEvents(group.appends, outcomes[i]!))) CommitSignal.bump(commitSignal);
      requests.forEach(({ id }, i) => port.postMessage({ kind: 'appended', id, outcomes: postOutcomes(outcomes[i]!) } satisfies AppendThreadReply));
      return;
    } catch {
      // Nothing was written: each is tried on its own, so each gets its own outcome or error.
    }
  }
  for (const request of requests) port.postMessage(append(request));
}

function append({ id, appends, created }: AppendMessage): AppendThreadReply {
  try {
    // Opened at the first append, and again at the next one if it failed: a file that cannot be opened
    // now (locked, missing directory) may be openable later, and the store reports each failure.
    connection ??= connect();
    const prepared = receiveAppends(appends);
    const outcomes = connection.appender.append(prepared, created);
    if (storedEvents(prepared, outcomes)) CommitSignal.bump(commitSignal);
    return { kind: 'appended', id, outcomes: postOutcomes(outcomes) };
  } catch (error) {
    return { kind: 'failed', id, error: postError(error) };
  }
}

function connect() {
  const db = openConnection(filePath, busyTimeoutMs);
  try {
    // The checkpoint thread keeps the WAL copied back; this connection copies only what is left when
    // the WAL reaches the limit, so that the next commit can start the WAL again from its beginning.
    db.pragma(`wal_autocheckpoint = ${walFrameLimit}`);
    // A WAL that grew past the limit (a reader kept it from starting again) is cut back to twice the
    // limit when it does start again, so the file does not keep the disk it took for the rest of its life.
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    db.pragma(`journal_size_limit = ${2 * walFrameLimit * (pageSize + WAL_FRAME_HEADER_BYTES) + WAL_HEADER_BYTES}`);
    return { db, appender: new SqliteAppender(db) };
  } catch (error) {
    db.close();
    throw error;
  }
}
