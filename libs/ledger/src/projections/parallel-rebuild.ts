import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Projection } from './projection.js';
import { LEDGER_PROJECTIONS } from './index.js';
import { WriteTurns } from './write-turns.js';

export interface RebuildShardTask {
  readonly eventsFile: string;
  readonly readModelsFile: string;
  readonly projections: readonly string[];
  readonly tables: readonly string[];
  readonly upTo: bigint;
  readonly shard: number;
  readonly shards: number;
  readonly pageSize: number;
  readonly maxCachedDocs: number;
  /** The threads' turns to write the read models (`WriteTurns`), one for all of them. */
  readonly writeTurns: Int32Array;
}

export type RebuildShardMessage =
  | { readonly kind: 'progress'; readonly events: number; readonly position: bigint }
  | { readonly kind: 'done'; readonly events: number };

/**
 * Rows a replay's thread reads at a time. A page stays alive, with the events decoded from it, until it is
 * folded, and what is alive when the young generation fills is copied by the scavenge: pages of 5,000 rows
 * (about 6 MiB with their decoded events) made the replay threads' scavenges cost 2.3 s in 8 s of a
 * million-event replay, against 0.65 s with pages of 500 (docs/benchmarks.md).
 */
export const REPLAY_PAGE_ROWS = 500;

/** Threads a replay uses by default: decoding and folding are per account, so they split well. */
export function defaultRebuildThreads(): number {
  return Math.min(availableParallelism(), 4);
}

/** Only the ledger's own projections can be named to a worker thread (functions do not cross threads). */
export function canRebuildInParallel(projections: readonly Projection<unknown>[]): boolean {
  return projections.every((projection) => LEDGER_PROJECTIONS.includes(projection));
}

/**
 * Folds every event up to `upTo` into the fresh `tables` with `threads` worker threads, each taking the
 * streams of one shard: every projection's documents belong to one account, and an account's events
 * keep their order within its shard. Resolves with the number of events folded.
 */
export async function foldInParallel(options: {
  readonly eventsFile: string;
  readonly readModelsFile: string;
  readonly projections: readonly Projection<unknown>[];
  readonly tables: readonly string[];
  readonly upTo: bigint;
  readonly threads: number;
  readonly maxCachedDocs?: number;
  readonly onProgress?: (events: number, position: bigint) => void;
}): Promise<number> {
  const shards = options.threads;
  const progress = Array.from({ length: shards }, () => ({ events: 0, position: -1n }));
  const report = () => {
    const events = progress.reduce((sum, shard) => sum + shard.events, 0);
    const position = progress.reduce((low, shard) => (shard.position < low ? shard.position : low), options.upTo);
    options.onProgress?.(events, position);
  };
  const workers: Worker[] = [];
  const writeTurns = WriteTurns.shared();
  try {
    const counts = await Promise.all(
      progress.map(
        (_, shard) =>
          new Promise<number>((resolve, reject) => {
            const task: RebuildShardTask = {
              eventsFile: options.eventsFile,
              readModelsFile: options.readModelsFile,
              projections: options.projections.map((p) => p.name),
              tables: options.tables,
              upTo: options.upTo,
              shard,
              shards,
              pageSize: REPLAY_PAGE_ROWS,
              maxCachedDocs: Math.ceil((options.maxCachedDocs ?? 250_000) / shards),
              writeTurns,
            };
            const worker = new Worker(new URL('./rebuild.worker.js', import.meta.url), { workerData: task });
            workers.push(worker);
            let done: number | undefined;
            worker.on('message', (message: RebuildShardMessage) => {
              if (message.kind === 'done') done = message.events;
              else {
                progress[shard] = { events: message.events, position: message.position };
                report();
              }
            });
            worker.once('error', reject);
            worker.once('exit', (code) => (done !== undefined ? resolve(done) : reject(new Error(`rebuild thread ${shard} exited with ${code}`))));
          }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
