import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore, takeBackgroundCpus } from '#event-store';
import { LEDGER_PROJECTIONS } from './index.js';
import { projectStoredEvent } from './projection-engine.js';
import type { ProjectedEvent } from './projection.js';
import { SqliteReadModelStore } from './read-model-store.js';
import type { RebuildRangeTask, RebuildRangeMessage } from './parallel-rebuild.js';
import { WriteTurns } from './write-turns.js';

takeBackgroundCpus();

const PROGRESS_EVERY_MS = 100;

/** One thread of a parallel rebuild: every event of its range of streams, account by account, folded and written to the fresh tables. */
async function run(task: RebuildRangeTask): Promise<void> {
  const projections = task.projections.map((name) => LEDGER_PROJECTIONS.find((p) => p.name === name)!);
  const store = SqliteEventStore.open(task.eventsFile);
  const readModels = SqliteReadModelStore.open(task.readModelsFile);
  try {
    const rebuild = readModels.continueRebuild(projections, task.tables, {
      maxCachedDocs: task.maxCachedDocs,
      writeTurns: WriteTurns.of(task.writeTurns),
      accountByAccount: true,
    });
    let events = 0;
    let rows = 0;
    let reported = 0;
    for await (const page of store.readStreamRangeText(task.range, task.upTo, task.pageSize)) {
      const batch: ProjectedEvent[] = [];
      for (const row of page) {
        const projected = projectStoredEvent(row);
        if (projected) batch.push(projected);
      }
      rebuild.add(batch);
      events += batch.length;
      rows += page.length;
      // A message a page was a percent of the thread's time.
      if (performance.now() - reported >= PROGRESS_EVERY_MS) {
        parentPort!.postMessage({ kind: 'progress', events, rows } satisfies RebuildRangeMessage);
        reported = performance.now();
      }
    }
    rebuild.flush();
    parentPort!.postMessage({ kind: 'progress', events, rows } satisfies RebuildRangeMessage);
    parentPort!.postMessage({ kind: 'done', events } satisfies RebuildRangeMessage);
  } finally {
    readModels.close();
    await store.close();
  }
}

await run(workerData as RebuildRangeTask);
