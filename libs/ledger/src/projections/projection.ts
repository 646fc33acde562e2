import type { CreditAccountEvent } from '#domain';
import type { LedgerEventMetadata } from '../events/event-metadata.js';

/** An event of the ledger as projections see it: the domain event with where and when it happened. */
export interface ProjectedEvent {
  /** The global ($all) commit position: the order projections follow. */
  readonly position: bigint;
  readonly accountId: string;
  readonly revision: bigint;
  readonly event: CreditAccountEvent;
  /** Business time (ms), from the event. */
  readonly occurredAt: number;
  readonly metadata: Partial<LedgerEventMetadata> | undefined;
  /** The user the metadata's actor names, if any: `metadata.actor.userId`, which a stored event can give without decoding its metadata. */
  readonly actorUserId: string | undefined;
}

/**
 * A read model as a set of JSON documents by key, each the pure fold of the events that touch it. The
 * engine stores, with every document, the position of the last event applied to it, and never applies
 * an event at or before that position again: replaying the same events twice gives the same documents.
 * Bumping `version` makes the engine build the projection again from the first event.
 */
export interface Projection<Doc> {
  readonly name: string;
  readonly version: number;
  /** The documents an event changes (none for events the projection ignores). */
  keysOf(event: ProjectedEvent): readonly string[];
  /** The document after the event; `undefined` deletes it. Must not mutate `doc`. */
  evolve(doc: Doc | undefined, event: ProjectedEvent, key: string): Doc | undefined;
  /**
   * The same fold as `evolve`, allowed to update `doc` in place and return it. The engine calls it on
   * documents it owns (parsed from their rows, or made by an earlier fold and seen by no one else): a
   * replay of millions of events cannot afford a copy of the document for every event. Projections
   * whose events are rare need not have one.
   */
  evolveInPlace?(doc: Doc | undefined, event: ProjectedEvent, key: string): Doc | undefined;
  /**
   * A number kept beside each document in an indexed column, so that a query finds the documents at or
   * below a value without reading the others (the balances' next expiry); `undefined` leaves a document
   * out of the index. Changing what it returns for stored documents needs a new `version`.
   */
  indexOf?(doc: Doc): number | undefined;
  /**
   * The part of the index a document is in, from its key (so it never changes): a query reads one group
   * (say, one account's documents). Without it, one group over the whole table.
   */
  indexGroupOf?(key: string): string;
}

/**
 * A projection written as an in-place fold, with its pure `evolve` derived from it: a copy of the
 * document, then the same fold. One body of rules, so the two cannot drift apart.
 */
export function inPlaceProjection<Doc>(definition: {
  readonly name: string;
  readonly version: number;
  keysOf(event: ProjectedEvent): readonly string[];
  evolveInPlace(doc: Doc | undefined, event: ProjectedEvent, key: string): Doc | undefined;
  /** A copy deep enough that `evolveInPlace` on it leaves the original as it was. */
  copy(doc: Doc): Doc;
  indexOf?(doc: Doc): number | undefined;
  indexGroupOf?(key: string): string;
}): Projection<Doc> {
  const { name, version, keysOf, evolveInPlace, copy, indexOf, indexGroupOf } = definition;
  return {
    name,
    version,
    keysOf,
    evolveInPlace,
    evolve: (doc, event, key) => evolveInPlace(doc === undefined ? undefined : copy(doc), event, key),
    ...(indexOf ? { indexOf } : {}),
    ...(indexGroupOf ? { indexGroupOf } : {}),
  };
}

export interface StoredDoc<Doc> {
  readonly doc: Doc;
  readonly position: bigint;
}

/**
 * Applies events to documents in memory, with the engine's rule that an event at or before a document's
 * position is already in it. Used by tests, by `verify`, and as the engine's batch step. The map owns
 * its documents (and `load` hands over fresh ones), so they are folded in place where the projection can.
 */
export function applyToDocs<Doc>(
  projection: Projection<Doc>,
  docs: Map<string, StoredDoc<Doc> | undefined>,
  event: ProjectedEvent,
  load: (key: string) => StoredDoc<Doc> | undefined = () => undefined,
): void {
  for (const key of projection.keysOf(event)) {
    const current = docs.has(key) ? docs.get(key) : load(key);
    if (current && current.position >= event.position) {
      if (!docs.has(key)) docs.set(key, current);
      continue;
    }
    const next = projection.evolveInPlace ? projection.evolveInPlace(current?.doc, event, key) : projection.evolve(current?.doc, event, key);
    docs.set(key, next === undefined ? undefined : { doc: next, position: event.position });
  }
}

/** Folds events into a fresh in-memory read model. */
export function foldProjection<Doc>(
  projection: Projection<Doc>,
  events: Iterable<ProjectedEvent>,
  docs = new Map<string, StoredDoc<Doc> | undefined>(),
): Map<string, StoredDoc<Doc> | undefined> {
  for (const event of events) applyToDocs(projection, docs, event);
  return docs;
}
