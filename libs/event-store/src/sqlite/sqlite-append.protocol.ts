import {
  positionOf,
  WrongExpectedRevisionError,
  type AppendOutcome,
  type ExpectedRevision,
} from '../event-store.port.js';
import type { PreparedAppend, PreparedEvent } from './sqlite-append.js';

// The messages between a store and its append thread. Messages are structured clones, whose cost grows
// with the number of objects in them: appends and outcomes cross as a few arrays (columns) rather than
// an object per append and per event, which measured three times cheaper to clone for a batch of 1,000.
// An error arrives without its class or its own properties (`code`), so errors and conflicts cross as
// plain records and are rebuilt on arrival.

/** What the append thread is started with (its `workerData`). */
export interface AppendThreadSettings {
  readonly filePath: string;
  readonly busyTimeoutMs: number;
  /** The store's `CommitSignal`, bumped here after each transaction that wrote events. */
  readonly commitSignal: Int32Array;
  /** The thread's connection checkpoints after a commit that leaves the WAL this many frames long or more. */
  readonly walFrameLimit: number;
}

/**
 * To the append thread. Requests are handled one at a time in the order they were posted; each
 * `append` is one transaction of its own, whatever else is waiting, so that its outcome does not
 * depend on the others. `stop` closes the connection and ends the thread.
 */
export type AppendThreadRequest =
  | {
      readonly kind: 'append';
      readonly id: number;
      readonly appends: PostedAppends;
      /** The time recorded on the events: when the caller asked, not when the thread got to it. */
      readonly created: number;
    }
  | { readonly kind: 'stop' };

/** From the append thread: one reply per `append`, in request order. */
export type AppendThreadReply =
  | { readonly kind: 'appended'; readonly id: number; readonly outcomes: PostedOutcomes }
  /** The transaction failed and was rolled back: nothing of this request was written. */
  | { readonly kind: 'failed'; readonly id: number; readonly error: PostedError };

/** A batch of prepared appends, by column; append i has `eventCounts[i]` events, taken in order. */
export interface PostedAppends {
  readonly streamIds: readonly string[];
  readonly expectedRevisions: readonly ExpectedRevision[];
  readonly eventCounts: Uint32Array;
  /** Each append's `expectedEventId`, or null. */
  readonly expectedEventIds: readonly (string | null)[];
  readonly eventIds: readonly string[];
  readonly types: readonly string[];
  readonly data: readonly string[];
  readonly metadata: readonly (string | null)[];
}

/**
 * The outcomes of a batch, by column. A conflict's stream and expected revision are those of its
 * append, which the caller still has; for a conflict, `revisions` and `positions` mean nothing.
 */
export interface PostedOutcomes {
  readonly revisions: BigInt64Array;
  readonly positions: BigInt64Array;
  readonly conflicts: readonly { readonly index: number; readonly actualRevision: bigint | 'no_stream' }[];
}

export interface PostedError {
  readonly name: string;
  readonly message: string;
  /** SQLite's extended result code (`SQLITE_BUSY`), which decides whether the store is unavailable. */
  readonly code?: string;
}

export function postAppends(appends: readonly PreparedAppend[]): PostedAppends {
  const posted = {
    streamIds: appends.map((append) => append.streamId),
    expectedRevisions: appends.map((append) => append.expectedRevision),
    eventCounts: Uint32Array.from(appends, (append) => append.events.length),
    expectedEventIds: appends.map((append) => append.expectedEventId ?? null),
    eventIds: [] as string[],
    types: [] as string[],
    data: [] as string[],
    metadata: [] as (string | null)[],
  };
  for (const append of appends) {
    for (const event of append.events) {
      posted.eventIds.push(event.id);
      posted.types.push(event.type);
      posted.data.push(event.data);
      posted.metadata.push(event.metadata);
    }
  }
  return posted;
}

export function receiveAppends(posted: PostedAppends): PreparedAppend[] {
  let next = 0;
  return posted.streamIds.map((streamId, i) => {
    const events: PreparedEvent[] = [];
    for (const end = next + posted.eventCounts[i]!; next < end; next++) {
      events.push({ id: posted.eventIds[next]!, type: posted.types[next]!, data: posted.data[next]!, metadata: posted.metadata[next]! });
    }
    return { streamId, expectedRevision: posted.expectedRevisions[i]!, events, expectedEventId: posted.expectedEventIds[i] ?? undefined };
  });
}

export function postOutcomes(outcomes: readonly AppendOutcome[]): PostedOutcomes {
  const posted = {
    revisions: new BigInt64Array(outcomes.length),
    positions: new BigInt64Array(outcomes.length),
    conflicts: [] as { index: number; actualRevision: bigint | 'no_stream' }[],
  };
  outcomes.forEach((outcome, index) => {
    if (outcome.ok) {
      posted.revisions[index] = outcome.nextExpectedRevision;
      posted.positions[index] = outcome.position.commit;
    } else {
      posted.conflicts.push({ index, actualRevision: outcome.error.actualRevision });
    }
  });
  return posted;
}

/** What the outcomes of posted appends are read against: each append's stream and expected revision. */
export type AppendHeads = Pick<PostedAppends, 'streamIds' | 'expectedRevisions'>;

/** The outcomes of the appends whose `heads` these are, as the appender on the calling thread would have made them. */
export function receiveOutcomes(posted: PostedOutcomes, heads: AppendHeads): AppendOutcome[] {
  const outcomes: AppendOutcome[] = heads.streamIds.map((streamId, i) => ({
    ok: true,
    streamId,
    nextExpectedRevision: posted.revisions[i]!,
    position: positionOf(posted.positions[i]!),
  }));
  for (const { index, actualRevision } of posted.conflicts) {
    const streamId = heads.streamIds[index]!;
    outcomes[index] = { ok: false, streamId, error: new WrongExpectedRevisionError(streamId, heads.expectedRevisions[index]!, actualRevision) };
  }
  return outcomes;
}

export function postError(error: unknown): PostedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code } = error as { code?: unknown };
  return { name: error.name, message: error.message, ...(typeof code === 'string' && { code }) };
}

/** An `Error` with the name, message and code of the thread's error (its class stays behind). */
export function receiveError(posted: PostedError): Error {
  const error = new Error(posted.message) as Error & { code?: string };
  error.name = posted.name;
  if (posted.code !== undefined) error.code = posted.code;
  return error;
}
