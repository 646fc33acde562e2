import { parentPort, workerData } from 'node:worker_threads';
import { accountIdOfStream, InconsistentHistoryError } from '#domain';
import { SqliteEventStore, takeBackgroundCpus } from '#event-store';
import { decodeEventText } from '../events/event-codec.js';
import { REPLAY_PAGE_ROWS } from '../projections/parallel-rebuild.js';
import { FinancePositionFold } from './finance-position.js';
import type { FinanceShardMessage, FinanceShardTask } from './finance-position.threads.js';

takeBackgroundCpus();

// One thread of a finance fold: every event of its range of streams, read as text, a page at a time. Every
// thread works out the same ranges: the events up to `upTo` never change.

const PAGE = REPLAY_PAGE_ROWS;

async function run(task: FinanceShardTask): Promise<FinanceShardMessage> {
  const store = SqliteEventStore.open(task.eventsFile);
  try {
    const fold = new FinancePositionFold(task.asOf);
    // There are fewer ranges than threads when there are too few streams to share: this one has none.
    const range = (await store.streamRanges(task.upTo, task.shards))[task.shard];
    if (range !== undefined) {
      for await (const rows of store.readStreamRangeText(range, task.upTo, PAGE)) {
        for (const row of rows) if (accountIdOfStream(row.streamId) !== undefined) fold.add(decodeEventText(row));
      }
    }
    return { kind: 'done', lots: fold.heldLots() };
  } catch (error) {
    return { kind: 'failed', inconsistent: error instanceof InconsistentHistoryError, message: error instanceof Error ? error.message : String(error) };
  } finally {
    await store.close();
  }
}

parentPort!.postMessage(await run(workerData as FinanceShardTask));
