import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
// Relative imports only: the package's index would load the EventStoreDB client into this thread too.
import { takeBackgroundCpus } from '../thread-placement.js';
import { yieldToForegroundThreads } from '../worker-script.js';
import { CommitSignal } from './commit-signal.js';
import type { CheckpointThreadSettings } from './sqlite-checkpoint.thread.js';
import { openConnection } from './sqlite-connection.js';

// The checkpoint thread of one SqliteEventStore: copies committed WAL frames back into the database
// file, so that the append thread, which would otherwise do it after every 1,000 frames, only commits.

const { filePath, busyTimeoutMs, commitSignal, intervalMs } = workerData as CheckpointThreadSettings;
const port = parentPort!;
// A checkpoint can wait while requests and appends take the CPUs: the append thread bounds the WAL.
takeBackgroundCpus();
yieldToForegroundThreads();
let db: BetterSqlite3.Database | undefined;
// The first turn checkpoints whatever the WAL holds: commits made while this thread was starting (it can
// start after the first appends) and frames a process before this one left in the WAL.
let checkedAt: number | undefined;
const timer = setInterval(checkpoint, intervalMs);

port.on('message', (request: 'stop') => {
  if (request !== 'stop') throw new Error(`Unknown request to the checkpoint thread: ${String(request)}`);
  clearInterval(timer);
  db?.close();
  db = undefined;
  port.close();
});

/**
 * A passive checkpoint: it waits for no reader or writer, copies the frames no reader still needs, and
 * fsyncs the database file before it says they are copied. Only when something was committed since
 * the last one that copied everything.
 */
function checkpoint(): void {
  const commits = CommitSignal.count(commitSignal);
  if (commits === checkedAt) return;
  try {
    db ??= openConnection(filePath, busyTimeoutMs);
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: bigint; log: bigint; checkpointed: bigint }[];
    // Tried again at the next tick, commits or not, until every frame is copied: another connection may
    // have been checkpointing (busy), or a reader's snapshot kept the newest frames from being copied.
    if (result?.busy === 0n && result.checkpointed === result.log) checkedAt = commits;
  } catch {
    // Tried again at the next tick, on a new connection. Nothing written depends on a checkpoint: the
    // frames stay in the WAL, and the append thread checkpoints itself once the WAL reaches its bound.
    db?.close();
    db = undefined;
  }
}
