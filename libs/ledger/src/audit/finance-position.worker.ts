import { parentPort, workerData } from 'node:worker_threads';
import { accountIdOfStream, InconsistentHistoryError } from '#domain';
import { SqliteEventStore } from '#event-store';
import { decodeEventText } from '../events/event-codec.js';
import { REPLAY_PAGE_ROWS } from '../projections/parallel-rebuild.js';
import { FinancePositionFold } from './finance-position.js';
import type { FinanceShardMessage, FinanceShardTask } from './finance-position.threads.js';

// One thread of a finance fold: every event of its shard of streams, read as text, a page at a time.

const PAGE = REPLAY_PAGE_ROWS;

async function run(task: FinanceShardTask): Promise<FinanceShardMessage> {
  const store = SqliteEventStore.open(task.eventsFile);
  try {
    const fold = new FinancePositionFold(task.asOf);
    for (let after = -1n; ; ) {
      const rows = await store.readAllTextOfShard(after, task.upTo, task.shard, task.shards, PAGE);
      for (const row of rows) if (accountIdOfStream(row.streamId) !== undefined) fold.add(decodeEventText(row));
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.position;
    }
    return { kind: 'done', lots: fold.heldLots() };
  } catch (error) {
    return { kind: 'failed', inconsistent: error instanceof InconsistentHistoryError, message: error instanceof Error ? error.message : String(error) };
  } finally {
    await store.close();
  }
}

parentPort!.postMessage(await run(workerData as FinanceShardTask));
