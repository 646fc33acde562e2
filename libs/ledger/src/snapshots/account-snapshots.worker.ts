import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { takeBackgroundCpus, yieldToForegroundThreads } from '#event-store';
import { AccountSnapshotWrites, openSnapshotFile } from './account-snapshot-writes.js';
import type { SnapshotWrite, SnapshotWriteDone, SnapshotThreadTask } from './sqlite-account-snapshots.store.js';

/** Writes snapshots and idempotency entries in the background, in the order they were sent (key filters too). */
const task = workerData as SnapshotThreadTask;
// Snapshots only shorten a later load: they can wait while requests take the CPUs.
takeBackgroundCpus();
yieldToForegroundThreads();
const db = new BetterSqlite3(task.file);
openSnapshotFile(db);
const writes = new AccountSnapshotWrites(db, task.version);
const port = parentPort!;

port.on('message', (message: SnapshotWrite | 'close') => {
  if (message === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    if (message.kind === 'keys') {
      const filter = writes.storedKeys(message.accountId);
      const layer = filter.onlyLayer;
      port.postMessage({ id: message.id, keys: { layer, count: filter.size } } satisfies SnapshotWriteDone, [layer.bits.buffer]);
      return;
    }
    if (message.kind === 'entries') writes.saveEntries(message.accountId, message.revision, message.entries);
    else writes.saveSnapshot(message.accountId, message.snapshot.revision, message.snapshot.eventId, message.snapshot.state, message.snapshot.windows);
    port.postMessage({ id: message.id } satisfies SnapshotWriteDone);
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies SnapshotWriteDone);
  }
});
