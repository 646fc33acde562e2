import { sharedWithThreads, SqliteEventStore, type EventStore } from '#event-store';
import { canRebuildInParallel, defaultRebuildThreads, foldInParallel, type Projection, type SqliteReadModelStore } from '#ledger';
import { ledgerEventsAfter, ledgerHistory } from './ledger-history.js';
import { progressReporter } from './progress.js';

/**
 * Rebuilds projections from the first event into fresh tables and swaps them in, while a running
 * ledger keeps serving (and updating) the old tables until the swap. On the embedded store the history
 * up to the head is folded by several threads, each taking a range of the accounts and folding them one
 * after the other; what was appended meanwhile is then caught up in order before the swap.
 */
export async function replay(
  store: EventStore,
  readModels: SqliteReadModelStore,
  projections: readonly Projection<unknown>[],
  stderr: NodeJS.WriteStream,
  options: { readonly threads?: number } = {},
): Promise<{ events: number; seconds: number }> {
  const head = (await store.headPosition())?.commit ?? 0n;
  const progress = progressReporter(stderr, `replay ${projections.map((p) => p.name).join(',')}`, 0n, head);
  const started = process.hrtime.bigint();
  const threads = options.threads ?? defaultRebuildThreads();
  const catchUp = async (after: bigint) => (await ledgerEventsAfter(store, after)).events;
  const onBatch = (events: number, position: bigint) => progress.update(events, position);
  let result: { events: number; position: bigint };
  // Worker threads open both files themselves, so neither may be an in-memory database.
  if (threads > 1 && store instanceof SqliteEventStore && sharedWithThreads(store.file) && sharedWithThreads(readModels.file) && canRebuildInParallel(projections)) {
    const rebuild = readModels.beginRebuild(projections);
    const events = await foldInParallel({
      eventsFile: store.file,
      readModelsFile: readModels.file,
      projections,
      tables: rebuild.tables,
      upTo: head,
      ranges: await store.streamRanges(head, threads),
      // The threads read account by account, so no position tells how far they are; positions here are
      // row ids, one an event, so the rows read stand for it.
      onProgress: (applied, rows) => onBatch(applied, BigInt(rows)),
    });
    rebuild.writtenElsewhere(events, head);
    result = await rebuild.finish(catchUp, onBatch);
  } else {
    result = await readModels.rebuild(projections, ledgerHistory(store), catchUp, onBatch);
  }
  progress.done(result.events, result.position < 0n ? head : result.position);
  return { events: result.events, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
