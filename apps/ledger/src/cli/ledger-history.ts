import { creditAccountStream } from '#domain';
import { collect, positionOf, StreamNotFoundError, type EventStore } from '#event-store';
import { projectStoredEvent, toProjectedEvent, type ProjectedEvent, type Projection, type SqliteReadModelStore } from '#ledger';

export const PAGE_SIZE = 5000;

/** One page of the ledger's events strictly after a position (all of them from the start with -1n). */
export async function ledgerEventsAfter(store: EventStore, after: bigint, maxCount = PAGE_SIZE): Promise<{
  events: ProjectedEvent[];
  last: bigint;
  exhausted: boolean;
}> {
  if (store.readAllText) {
    const rows = await store.readAllText(after, maxCount);
    const events: ProjectedEvent[] = [];
    for (const row of rows) {
      const projected = projectStoredEvent(row);
      if (projected) events.push(projected);
    }
    return { events, last: rows.length > 0 ? rows[rows.length - 1]!.position : after, exhausted: rows.length < maxCount };
  }
  const page = await collect(
    store.readAll({ fromPosition: after < 0n ? 'start' : positionOf(after), maxCount: maxCount + 1 }),
  );
  const fresh = page.filter((recorded) => recorded.position.commit > after).slice(0, maxCount);
  const events: ProjectedEvent[] = [];
  for (const recorded of fresh) {
    const projected = toProjectedEvent(recorded);
    if (projected) events.push(projected);
  }
  return {
    events,
    last: fresh.length > 0 ? fresh[fresh.length - 1]!.position.commit : after,
    exhausted: fresh.length < maxCount,
  };
}

/** The ledger's events in global order, in pages, up to the end of the store as it is when read. */
export async function* ledgerHistory(store: EventStore, after = -1n): AsyncGenerator<ProjectedEvent[]> {
  let position = after;
  for (;;) {
    const page = await ledgerEventsAfter(store, position);
    if (page.events.length > 0) yield page.events;
    position = page.last;
    if (page.exhausted) return;
  }
}

/**
 * One account's events in revision order, in pages: read as text where the store offers it (decoding
 * metadata only when asked for), else decoded. Nothing when the account has no event.
 */
export async function* accountHistory(store: EventStore, accountId: string): AsyncGenerator<ProjectedEvent[]> {
  const streamId = creditAccountStream(accountId);
  if (store.readStreamText) {
    for (let from = 0n; ; ) {
      const rows = await store.readStreamText(streamId, from, PAGE_SIZE);
      const events: ProjectedEvent[] = [];
      for (const row of rows) events.push(projectStoredEvent(row)!);
      if (events.length > 0) yield events;
      if (rows.length < PAGE_SIZE) return;
      from = rows[rows.length - 1]!.revision + 1n;
    }
  }
  let page: ProjectedEvent[] = [];
  try {
    for await (const recorded of store.readStream(streamId)) {
      page.push(toProjectedEvent(recorded)!);
      if (page.length === PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  if (page.length > 0) yield page;
}

/** Brings read models up to the end of the store, for tools that run without the app's engine. */
export async function catchUpReadModels(
  store: EventStore,
  readModels: SqliteReadModelStore,
  projections: readonly Projection<unknown>[],
): Promise<void> {
  for (const projection of projections) readModels.ensure(projection);
  const from = projections.map((p) => readModels.active(p.name)?.position ?? -1n).reduce((a, b) => (b < a ? b : a));
  for await (const batch of ledgerHistory(store, from)) readModels.applyBatch(projections, batch);
}
