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

type WriteMessage = Exclude<SnapshotWrite, { kind: 'keys' }>;

/**
 * At most this many entries in one transaction. The writes that arrived while the thread was busy are
 * written together, so the more it falls behind, the more entries share each page it writes, and the
 * faster it catches up (`AccountSnapshotWrites.saveAll`). The bound keeps the WAL to some hundreds of MiB.
 */
const MAX_ENTRIES_TOGETHER = 50_000;

let waiting: SnapshotWrite[] = [];

port.on('message', (message: SnapshotWrite | 'close') => {
  if (message === 'close') {
    writeWaiting();
    db.close();
    port.close();
    return;
  }
  waiting.push(message);
  if (waiting.length === 1) setImmediate(writeWaiting);
});

/** The messages that arrived since the last turn, in order: each run of writes in as few transactions as the bound allows. */
function writeWaiting(): void {
  const messages = waiting;
  waiting = [];
  let i = 0;
  while (i < messages.length) {
    const first = messages[i]!;
    if (first.kind === 'keys') {
      answerKeys(first);
      i += 1;
      continue;
    }
    const run: WriteMessage[] = [first];
    let entries = entriesIn(first);
    for (i += 1; i < messages.length; i++) {
      const next = messages[i]!;
      if (next.kind === 'keys' || entries + entriesIn(next) > MAX_ENTRIES_TOGETHER) break;
      run.push(next);
      entries += entriesIn(next);
    }
    writeTogether(run);
  }
}

function entriesIn(message: SnapshotWrite): number {
  return message.kind === 'entries' ? message.entries.length : 0;
}

function writeTogether(run: readonly WriteMessage[]): void {
  if (run.length > 1) {
    try {
      writes.saveAll(run);
      for (const { id } of run) port.postMessage({ id } satisfies SnapshotWriteDone);
      return;
    } catch {
      // Nothing of them was written: each is tried on its own, so each gets its own outcome.
    }
  }
  for (const message of run) {
    try {
      writes.saveAll([message]);
      port.postMessage({ id: message.id } satisfies SnapshotWriteDone);
    } catch (error) {
      port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies SnapshotWriteDone);
    }
  }
}

function answerKeys(message: Extract<SnapshotWrite, { kind: 'keys' }>): void {
  try {
    const filter = writes.storedKeys(message.accountId);
    const layer = filter.onlyLayer;
    port.postMessage({ id: message.id, keys: { layer, count: filter.size } } satisfies SnapshotWriteDone, [layer.bits.buffer]);
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies SnapshotWriteDone);
  }
}
