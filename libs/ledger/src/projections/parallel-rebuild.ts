import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorkerScript, type StreamRange } from '#event-store';
import type { Projection } from './projection.js';
import { LEDGER_PROJECTIONS } from './index.js';
import { WriteTurns } from './write-turns.js';

export interface RebuildRangeTask {
  readonly eventsFile: string;
  readonly readModelsFile: string;
  readonly projections: readonly string[];
  readonly tables: readonly string[];
  readonly upTo: bigint;
  readonly range: StreamRange;
  readonly pageSize: number;
  readonly maxCachedDocs: number;
  /** The threads' turns to write the read models (`WriteTurns`), one for all of them. */
  readonly writeTurns: Int32Array;
}

export type RebuildRangeMessage =
  | { readonly kind: 'progress'; readonly events: number; readonly rows: number }
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

/** The compiled module of a rebuild's thread, or undefined when there is none to run (no build). */
export function rebuildScript(): URL | undefined {
  return compiledWorkerScript(import.meta.url, 'rebuild.worker');
}

/**
 * Folds every event up to `upTo` into the fresh `tables` with one worker thread per range of streams
 * (`SqliteEventStore.streamRanges`): every projection's documents belong to one account, so each thread
 * reads its accounts one after the other, each account's events in order, and writes an account's
 * documents once. Reading by account rather than in the store's global order, a thread reads only its
 * own rows (through the stream index) and never reads a document back. Resolves with the number of events
 * folded; `onProgress` is told the events folded and the rows read, in all threads.
 */
export async function foldInParallel(options: {
  readonly eventsFile: string;
  readonly readModelsFile: string;
  readonly projections: readonly Projection<unknown>[];
  readonly tables: readonly string[];
  readonly upTo: bigint;
  readonly ranges: readonly StreamRange[];
  readonly maxCachedDocs?: number;
  readonly pageSize?: number;
  readonly onProgress?: (events: number, rows: number) => void;
}): Promise<number> {
  const script = rebuildScript();
  if (script === undefined) throw new Error('the rebuild thread module is not built (npm run build)');
  const progress = options.ranges.map(() => ({ events: 0, rows: 0 }));
  const report = () => {
    let events = 0;
    let rows = 0;
    for (const range of progress) {
      events += range.events;
      rows += range.rows;
    }
    options.onProgress?.(events, rows);
  };
  const workers: Worker[] = [];
  const writeTurns = WriteTurns.shared();
  try {
    const counts = await Promise.all(
      options.ranges.map(
        (range, i) =>
          new Promise<number>((resolve, reject) => {
            const task: RebuildRangeTask = {
              eventsFile: options.eventsFile,
              readModelsFile: options.readModelsFile,
              projections: options.projections.map((p) => p.name),
              tables: options.tables,
              upTo: options.upTo,
              range,
              pageSize: options.pageSize ?? REPLAY_PAGE_ROWS,
              maxCachedDocs: Math.ceil((options.maxCachedDocs ?? 250_000) / options.ranges.length),
              writeTurns,
            };
            const worker = new Worker(script, { workerData: task });
            workers.push(worker);
            let done: number | undefined;
            worker.on('message', (message: RebuildRangeMessage) => {
              if (message.kind === 'done') done = message.events;
              else {
                progress[i] = { events: message.events, rows: message.rows };
                report();
              }
            });
            worker.once('error', reject);
            worker.once('exit', (code) => (done !== undefined ? resolve(done) : reject(new Error(`rebuild thread ${i} exited with ${code}`))));
          }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
