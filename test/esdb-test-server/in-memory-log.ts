/**
 * The data side of the test server: one global log (`$all`) with per-stream indexes, the
 * expected-revision and idempotency rules of EventStoreDB 24.10, and the reads over both.
 * Section numbers (§) refer to the team's EventStoreDB wire-protocol notes.
 */

/** The revision of a stream that does not exist; `no_stream` is checked as this value (§6). */
export const NO_STREAM = -1n;

/** .NET ticks (100 ns) per millisecond: `created` is in ticks since the Unix epoch (§5). */
export const TICKS_PER_MILLISECOND = 10_000n;

/** Bytes every record takes besides its variable parts; only "sparse and increasing" matters (§7). */
const RECORD_HEADER_BYTES = 80;

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;
export type Direction = 'forwards' | 'backwards';
/** Where a read starts: the first event, the last one, or a stream revision / `$all` position. */
export type ReadFrom = 'start' | 'end' | bigint;

export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export interface RecordedEvent extends ProposedEvent {
  readonly streamName: string;
  readonly revision: bigint;
  /** Offset of the event's record in the log; its commit and prepare position (§7). */
  readonly position: bigint;
  /** .NET ticks since the Unix epoch. */
  readonly created: bigint;
}

export type AppendResult =
  /** `revision` is NO_STREAM (and `position` absent) only for an empty append to a missing stream. */
  | { readonly outcome: 'success'; readonly revision: bigint; readonly position?: bigint }
  | { readonly outcome: 'wrong_expected_version'; readonly currentRevision: bigint };

export type EventFilter = (event: RecordedEvent) => boolean;

/** DefaultAllFilter: `$all` hides only these system streams, not `$` streams in general (§7). */
export const isVisibleInAll: EventFilter = ({ streamName }) =>
  streamName !== '$epoch-information' &&
  !(streamName.startsWith('$persistentsubscription-$all::') && /-(checkpoint|parked)$/.test(streamName));

interface Stream {
  readonly events: RecordedEvent[];
  /** The latest revision written with each event id, for idempotency checks (§6). */
  readonly revisionById: Map<string, bigint>;
}

export class InMemoryLog {
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, Stream>();
  private readonly listeners = new Set<(appended: readonly RecordedEvent[]) => void>();
  /** Where the next record starts. */
  private end = 0n;

  /** Every event in `$all` order. */
  get events(): readonly RecordedEvent[] {
    return this.log;
  }

  streamEvents(streamName: string): readonly RecordedEvent[] | undefined {
    return this.streams.get(streamName)?.events;
  }

  /** Calls `listener` with the events of every later append, once they are all visible (§7). */
  onAppend(listener: (appended: readonly RecordedEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(streamName: string, expected: ExpectedRevision, proposed: readonly ProposedEvent[]): AppendResult {
    const stream = this.streams.get(streamName);
    const currentRevision = stream ? BigInt(stream.events.length) - 1n : NO_STREAM;
    const decision = this.check(streamName, stream, currentRevision, expected, proposed.map(({ id }) => id));
    if (decision !== 'write') return decision;
    if (proposed.length === 0) return { outcome: 'success', revision: currentRevision };

    const target: Stream = stream ?? { events: [], revisionById: new Map() };
    this.streams.set(streamName, target);
    const created = BigInt(Date.now()) * TICKS_PER_MILLISECOND;
    const appended = proposed.map((event, index): RecordedEvent => {
      const recorded = { ...event, streamName, revision: currentRevision + 1n + BigInt(index), position: this.end, created };
      const variableBytes = Buffer.byteLength(streamName) + Buffer.byteLength(event.type) + event.data.length + event.customMetadata.length;
      this.end += BigInt(RECORD_HEADER_BYTES + variableBytes);
      target.revisionById.set(event.id, recorded.revision);
      return recorded;
    });
    target.events.push(...appended);
    this.log.push(...appended);
    for (const listener of this.listeners) listener(appended);
    // §2.5: the revision and position of the last event written (commit = prepare).
    const last = appended[appended.length - 1];
    return { outcome: 'success', revision: last.revision, position: last.position };
  }

  /** §2.4 and §6 (S IndexWriter.cs): write, report the original result of a retried append, or refuse. */
  private check(
    streamName: string,
    stream: Stream | undefined,
    currentRevision: bigint,
    expected: ExpectedRevision,
    ids: readonly string[],
  ): AppendResult | 'write' {
    const wrongExpectedVersion = { outcome: 'wrong_expected_version', currentRevision } as const;
    if (expected === 'any' || expected === 'stream_exists') {
      if (expected === 'stream_exists' && currentRevision === NO_STREAM && !this.streams.has(`$$${streamName}`)) {
        return wrongExpectedVersion;
      }
      // A retry is recognised by its first id; then every id must be in the stream already, or the
      // append is "corrupted idempotency", reported as a wrong expected version even for `any`.
      if (ids.length === 0 || !stream?.revisionById.has(ids[0])) return 'write';
      if (!ids.every((id) => stream.revisionById.has(id))) return wrongExpectedVersion;
      return this.originalResult(stream, stream.revisionById.get(ids[ids.length - 1])!);
    }
    const expectedRevision = expected === 'no_stream' ? NO_STREAM : expected;
    if (expectedRevision === currentRevision) return 'write';
    if (expectedRevision > currentRevision || ids.length === 0) return wrongExpectedVersion;
    // An expected revision in the past is a retry only if the ids match the events written after it.
    const first = Number(expectedRevision) + 1;
    return ids.every((id, index) => stream!.events[first + index]?.id === id)
      ? this.originalResult(stream!, expectedRevision + BigInt(ids.length))
      : wrongExpectedVersion;
  }

  private originalResult(stream: Stream, revision: bigint): AppendResult {
    return { outcome: 'success', revision, position: stream.events[Number(revision)].position };
  }

  /** §3: inclusive from a revision in both directions; `undefined` when the stream does not exist. */
  readStream(streamName: string, from: ReadFrom, direction: Direction, maxCount: number): RecordedEvent[] | undefined {
    const events = this.streams.get(streamName)?.events;
    if (!events) return undefined;
    if (direction === 'forwards') {
      const first = from === 'start' ? 0 : from === 'end' ? events.length : Number(from);
      return events.slice(first, first + maxCount);
    }
    const last = from === 'start' ? 0 : from === 'end' ? events.length - 1 : Math.min(Number(from), events.length - 1);
    return events.slice(Math.max(0, last - maxCount + 1), last + 1).reverse();
  }

  /** §3: forwards from a position is inclusive, backwards exclusive; `filter` picks what counts. */
  readAll(from: ReadFrom, direction: Direction, maxCount: number, filter: EventFilter): RecordedEvent[] {
    const boundary = from === 'start' ? 0 : from === 'end' ? this.log.length : this.indexAtOrAfter(from);
    // Stops at maxCount: a page read must not cost the whole rest of the log (a replay reads every page).
    const page: RecordedEvent[] = [];
    const step = direction === 'forwards' ? 1 : -1;
    for (let i = direction === 'forwards' ? boundary : boundary - 1; i >= 0 && i < this.log.length && page.length < maxCount; i += step) {
      if (filter(this.log[i]!)) page.push(this.log[i]!);
    }
    return page;
  }

  /** The events after `position` (exclusive), in log order. */
  eventsAfter(position: bigint): readonly RecordedEvent[] {
    return this.log.slice(this.indexAtOrAfter(position + 1n));
  }

  /**
   * Whether `position` starts a record or lies at or beyond the end of the log; anything else is
   * the middle of a record, which a real server cannot read from (§3: INVALID_ARGUMENT).
   */
  isValidPosition(position: bigint): boolean {
    const index = this.indexAtOrAfter(position);
    return index === this.log.length ? position >= this.end : this.log[index].position === position;
  }

  /** Index of the first event at or after `position` (binary search: positions increase). */
  private indexAtOrAfter(position: bigint): number {
    let low = 0;
    let high = this.log.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.log[middle].position < position) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
