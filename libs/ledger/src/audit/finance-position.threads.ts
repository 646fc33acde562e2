import { Worker } from 'node:worker_threads';
import { InconsistentHistoryError, type Instant } from '#domain';
import { compiledWorkerScript } from '#event-store';
import { FinancePositionFold, type FinanceLot } from './finance-position.js';

export interface FinanceShardTask {
  readonly eventsFile: string;
  readonly asOf: Instant;
  /** The last position folded: where the store's head was when the report was asked for. */
  readonly upTo: bigint;
  /** Which of `shards` ranges of streams (`SqliteEventStore.streamRanges`) this thread folds. */
  readonly shard: number;
  readonly shards: number;
}

export type FinanceShardMessage =
  | { readonly kind: 'done'; readonly lots: readonly FinanceLot[] }
  | { readonly kind: 'failed'; readonly inconsistent: boolean; readonly message: string };

/** The compiled module of a shard's thread, or undefined when there is none to run (no build). */
export function financePositionScript(): URL | undefined {
  return compiledWorkerScript(import.meta.url, 'finance-position.worker');
}

/**
 * The liability and breakage fold of an embedded store's events up to `upTo`, in `threads` worker
 * threads, each folding the streams of one range of stream ids account by account (a lot's state needs
 * only its account's events); their lots are then taken into one fold. The thread serving requests
 * only waits: the fold of a million events cost it about ten seconds of CPU, which the charges arriving
 * meanwhile waited on.
 */
export function foldFinancePositionInThreads(
  script: URL,
  options: { readonly eventsFile: string; readonly asOf: Instant; readonly upTo: bigint; readonly threads: number },
): Promise<FinancePositionFold> {
  // One fold at a time in a process: each already keeps every core busy, and a burst of reports must
  // not start threads by the dozen.
  const turn = folding.then(() => foldInThreads(script, options));
  folding = turn.catch(() => undefined);
  return turn;
}

let folding: Promise<unknown> = Promise.resolve();

async function foldInThreads(
  script: URL,
  options: { readonly eventsFile: string; readonly asOf: Instant; readonly upTo: bigint; readonly threads: number },
): Promise<FinancePositionFold> {
  const fold = new FinancePositionFold(options.asOf);
  const workers: Worker[] = [];
  try {
    const shards = await Promise.all(
      Array.from(
        { length: options.threads },
        (_, shard) =>
          new Promise<readonly FinanceLot[]>((resolve, reject) => {
            const task: FinanceShardTask = { eventsFile: options.eventsFile, asOf: options.asOf, upTo: options.upTo, shard, shards: options.threads };
            const worker = new Worker(script, { workerData: task });
            workers.push(worker);
            let lots: readonly FinanceLot[] | undefined;
            worker.on('message', (message: FinanceShardMessage) => {
              if (message.kind === 'done') lots = message.lots;
              else reject(message.inconsistent ? new InconsistentHistoryError(message.message) : new Error(message.message));
            });
            worker.once('error', reject);
            worker.once('exit', (code) => (lots ? resolve(lots) : reject(new Error(`finance fold thread ${shard} exited with ${code}`))));
          }),
      ),
    );
    for (const lots of shards) fold.absorb(lots);
    return fold;
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
