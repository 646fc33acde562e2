import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '#event-store';
import { LEDGER_PROJECTIONS } from './index.js';
import { projectStoredEvent } from './projection-engine.js';
import type { ProjectedEvent } from './projection.js';
import { SqliteReadModelStore } from './read-model-store.js';
import type { RebuildShardTask, RebuildShardMessage } from './parallel-rebuild.js';
import { WriteTurns } from './write-turns.js';

/** One thread of a parallel rebuild: every event of its shard of streams, folded and written to the fresh tables. */
async function run(task: RebuildShardTask): Promise<void> {
  const projections = task.projections.map((name) => LEDGER_PROJECTIONS.find((p) => p.name === name)!);
  const store = SqliteEventStore.open(task.eventsFile);
  const readModels = SqliteReadModelStore.open(task.readModelsFile);
  try {
    const rebuild = readModels.continueRebuild(projections, task.tables, { maxCachedDocs: task.maxCachedDocs, writeTurns: WriteTurns.of(task.writeTurns) });
    let after = -1n;
    let events = 0;
    for (;;) {
      const rows = await store.readAllTextOfShard(after, task.upTo, task.shard, task.shards, task.pageSize);
      if (rows.length === 0) break;
      const batch: ProjectedEvent[] = [];
      for (const row of rows) {
        const projected = projectStoredEvent(row);
        if (projected) batch.push(projected);
      }
      rebuild.add(batch);
      events += batch.length;
      after = rows[rows.length - 1]!.position;
      parentPort!.postMessage({ kind: 'progress', events, position: after } satisfies RebuildShardMessage);
    }
    rebuild.flush();
    parentPort!.postMessage({ kind: 'done', events } satisfies RebuildShardMessage);
  } finally {
    readModels.close();
    await store.close();
  }
}

await run(workerData as RebuildShardTask);
