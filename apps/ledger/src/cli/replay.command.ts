import type { EventStore } from '#event-store';
import type { Projection, SqliteReadModelStore } from '#ledger';
import { ledgerEventsAfter, ledgerHistory } from './ledger-history.js';
import { progressReporter } from './progress.js';

/**
 * Rebuilds projections from the first event into fresh tables and swaps them in, while a running
 * ledger keeps serving (and updating) the old tables until the swap.
 */
export async function replay(
  store: EventStore,
  readModels: SqliteReadModelStore,
  projections: readonly Projection<unknown>[],
  stderr: NodeJS.WriteStream,
): Promise<{ events: number; seconds: number }> {
  const head = (await store.headPosition())?.commit ?? 0n;
  const progress = progressReporter(stderr, `replay ${projections.map((p) => p.name).join(',')}`, 0n, head);
  const started = process.hrtime.bigint();
  const result = await readModels.rebuild(
    projections,
    ledgerHistory(store),
    async (after) => (await ledgerEventsAfter(store, after)).events,
    (events, position) => progress.update(events, position),
  );
  progress.done(result.events, result.position < 0n ? head : result.position);
  return { events: result.events, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
