import { accountIdOfStream, CREDIT_ACCOUNT_CATEGORY, instantOf, occurredAtOf, type CreditAccountEvent } from '#domain';
import { positionOf, type EventStore, type RecordedEvent, type StoredEventText, type Subscription } from '#event-store';
import { decodeEvent, decodeEventText } from '../events/event-codec.js';
import type { LedgerEventMetadata } from '../events/event-metadata.js';
import type { ProjectedEvent, Projection } from './projection.js';
import { PositionWaiters } from './position-waiters.js';
import type { SqliteReadModelStore } from './read-model-store.js';

export const PROJECTION_ENGINE = Symbol('PROJECTION_ENGINE');

/** The stream prefix of the ledger's own events in `$all`. */
export const LEDGER_STREAM_PREFIX = `${CREDIT_ACCOUNT_CATEGORY}-`;

export function toProjectedEvent(recorded: RecordedEvent): ProjectedEvent | undefined {
  const accountId = accountIdOfStream(recorded.streamId);
  if (accountId === undefined) return undefined;
  const event = decodeEvent(recorded);
  const metadata = recorded.metadata as Partial<LedgerEventMetadata> | undefined;
  return {
    position: recorded.position.commit,
    accountId,
    revision: recorded.revision,
    event,
    occurredAt: instantOf(occurredAtOf(event)),
    metadata,
    actorUserId: metadata?.actor?.userId,
  };
}

/** The same as `toProjectedEvent`, for an event read as text: its metadata is decoded on first use. */
export function projectStoredEvent(stored: StoredEventText): ProjectedEvent | undefined {
  const accountId = accountIdOfStream(stored.streamId);
  if (accountId === undefined) return undefined;
  return new StoredProjectedEvent(stored, accountId, decodeEventText(stored));
}

class StoredProjectedEvent implements ProjectedEvent {
  readonly position: bigint;
  readonly revision: bigint;
  readonly occurredAt: number;
  private metadataText: string | null;
  private decoded: Partial<LedgerEventMetadata> | undefined;

  constructor(stored: StoredEventText, readonly accountId: string, readonly event: CreditAccountEvent) {
    this.position = stored.position;
    this.revision = stored.revision;
    this.occurredAt = instantOf(occurredAtOf(event));
    this.metadataText = stored.metadata;
  }

  get metadata(): Partial<LedgerEventMetadata> | undefined {
    if (this.metadataText !== null) {
      this.decoded = JSON.parse(this.metadataText) as Partial<LedgerEventMetadata>;
      this.metadataText = null;
    }
    return this.decoded;
  }

  get actorUserId(): string | undefined {
    // A key spelled "userId" is in the text as it is unless some character of the text is a \u escape:
    // without either, no field of the metadata is called userId, and it need not be decoded (most
    // charges name no user: decoding was 7% of the thread that follows the store).
    const text = this.metadataText;
    if (text !== null && !text.includes('"userId"') && !text.includes('\\u')) return undefined;
    return this.metadata?.actor?.userId;
  }
}

/**
 * What the app asks of whatever keeps its read models current: the engine in this thread, or one
 * running in a thread of its own (`ProjectionThread`).
 */
export interface ProjectionFollower {
  start(): void | Promise<void>;
  stop(): Promise<void>;
  /** The position every projection has reached (-1n before the first event). */
  position(): bigint;
  /** Resolves once every projection has applied the event at `position`, or after `timeoutMs` with false. */
  waitFor(position: bigint, timeoutMs?: number): Promise<boolean>;
  readonly health: { readonly running: boolean; readonly lastError: string | undefined };
}

export interface ProjectionEngineOptions {
  readonly batchSize?: number;
  readonly onError?: (error: unknown) => void;
  /** Called after each batch is stored, with the position every projection has then reached. */
  readonly onApplied?: (position: bigint) => void;
  /** How long to wait before following the store again after a failure. */
  readonly retryDelayMs?: number;
  /**
   * Follow by reading events as text (`readAllText`) where the store offers it, decoding only what the
   * projections use, instead of through a subscription of fully decoded events. The engine then looks
   * for new events when `wake()` is called, or every `pollIntervalMs`.
   */
  readonly readText?: boolean;
  readonly pollIntervalMs?: number;
  /**
   * Reading text: once caught up, how long to let commits gather before reading again (0: read again at
   * once). Under load every commit wakes the engine, and what a batch costs whatever its size (a
   * transaction, the checkpoints, the message to the app) was paid per commit.
   */
  readonly gatherMs?: number;
  /**
   * Reading text: how long to let commits gather while nobody waits for a position (`waitFor`, or
   * `hurry` from whoever does); `gatherMs` when somebody does. Default: `gatherMs`. A document is written
   * once a batch however many of its events changed it, and each page of the read models a batch changes
   * is written once to the log: over 10,000 accounts, a charge cost the thread that follows the store
   * about a fifth less in batches gathered up to 100 ms than in batches gathered 5 ms (docs/benchmarks.md).
   */
  readonly patientGatherMs?: number;
}

/**
 * Keeps every projection up to date: one catch-up subscription to the ledger's events in global order,
 * from the lowest checkpoint, applied in batches (each batch and the checkpoints in one transaction).
 * If another process swapped in a rebuilt table (`ledger replay`), the engine notices at its next batch
 * and follows again from the new checkpoints.
 */
export class ProjectionEngine implements ProjectionFollower {
  private subscription: Subscription | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly waiters = new PositionWaiters(() => this.position());
  private readonly batchSize: number;
  private readonly retryDelayMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly onApplied: (position: bigint) => void;
  private readonly readText: boolean;
  private readonly pollIntervalMs: number;
  private readonly gatherMs: number;
  private readonly patientGatherMs: number;
  /** Somebody waits for a position: gather briefly until a batch read from now on has been applied. */
  private hurried = false;
  private wakeUp: (() => void) | undefined;
  private endGathering: (() => void) | undefined;
  private lastError: unknown;

  constructor(
    private readonly store: EventStore,
    private readonly readModels: SqliteReadModelStore,
    private readonly projections: readonly Projection<unknown>[],
    options: ProjectionEngineOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 2000;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.onError = options.onError ?? (() => undefined);
    this.onApplied = options.onApplied ?? (() => undefined);
    this.readText = options.readText ?? false;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.gatherMs = options.gatherMs ?? 0;
    this.patientGatherMs = options.patientGatherMs ?? this.gatherMs;
  }

  /** New events may be there: an engine reading text looks now rather than at its next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * Somebody waits for the events committed so far: stop gathering now, and gather only `gatherMs`
   * until a batch read after this call has been applied.
   */
  hurry(): void {
    this.hurried = true;
    this.endGathering?.();
    this.wake();
  }

  start(): void {
    for (const projection of this.projections) this.readModels.ensure(projection);
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.endGathering?.();
    this.wake();
    await this.subscription?.close();
    await this.running;
    this.waiters.releaseAll();
  }

  /** The position every projection has reached (-1n before the first event). */
  position(): bigint {
    return projectedPosition(this.readModels, this.projections);
  }

  /**
   * Resolves once every projection has applied the event at `position`, or after `timeoutMs` with
   * false: a query that must reflect a command just answered waits for it, briefly.
   */
  waitFor(position: bigint, timeoutMs = 2000): Promise<boolean> {
    const waiting = this.waiters.waitFor(position, timeoutMs);
    if (this.waiters.waiting) this.hurry();
    return waiting;
  }

  get health(): { readonly running: boolean; readonly lastError: string | undefined } {
    return {
      running: this.running !== undefined && !this.stopped,
      lastError: this.lastError instanceof Error ? this.lastError.message : undefined,
    };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await (this.readText && this.store.readAllText ? this.followText() : this.follow());
      } catch (error) {
        this.lastError = error;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      }
    }
  }

  /** Follows the store from the lowest checkpoint until stopped, or until a checkpoint moved under it. */
  private async follow(): Promise<void> {
    const expected = this.checkpoints();
    const from = [...expected.values()].reduce((a, b) => (b < a ? b : a));
    this.subscription = this.store.subscribeToAll({
      fromPosition: from < 0n ? 'start' : positionOf(from),
      filter: { streamPrefixes: [LEDGER_STREAM_PREFIX] },
    });
    const iterator = this.subscription[Symbol.asyncIterator]();
    try {
      let next = iterator.next();
      while (!this.stopped) {
        const first = await next;
        if (first.done) return;
        const batch: ProjectedEvent[] = [];
        const add = (recorded: RecordedEvent) => {
          const projected = toProjectedEvent(recorded);
          if (projected) batch.push(projected);
        };
        add(first.value);
        next = iterator.next();
        // Take what is already buffered without waiting for more: batches grow with the load.
        while (batch.length < this.batchSize) {
          const ready = await Promise.race([next, new Promise<null>((resolve) => setImmediate(resolve, null))]);
          if (ready === null || ready.done) break;
          add(ready.value);
          next = iterator.next();
        }
        if (!this.apply(batch, expected)) return;
      }
    } finally {
      await this.subscription.close();
    }
  }

  /**
   * The same, reading pages of events as text after the last one read. Positions are given in commit
   * order by one writer at a time, so once a page was read up to p, every later commit is above p.
   */
  private async followText(): Promise<void> {
    const expected = this.checkpoints();
    let after = [...expected.values()].reduce((a, b) => (b < a ? b : a));
    while (!this.stopped) {
      // Listening before reading: a wake-up that comes while the page is read is not lost.
      const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
      // What this read brings covers every commit a hurry before it was about; one that comes later
      // keeps the next gathering short.
      this.hurried = false;
      const rows = await this.store.readAllText!(after, this.batchSize);
      if (rows.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, this.pollIntervalMs)))]);
        clearTimeout(timer);
        continue;
      }
      const last = rows[rows.length - 1]!.position;
      if (!this.apply(decodedWhenReached(rows), expected)) return;
      after = last;
      const gatherMs = this.hurried ? this.gatherMs : this.patientGatherMs;
      if (rows.length < this.batchSize && gatherMs > 0 && !this.stopped) await this.gather(gatherMs);
    }
  }

  /** Waits `ms`, or until stopped or hurried. */
  private async gather(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endGathering = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.endGathering = undefined;
  }

  /**
   * Stores a batch with the checkpoints, unless a checkpoint moved under the engine (a rebuild was
   * swapped in): then false, and the caller follows again from the new checkpoints.
   */
  private apply(batch: Iterable<ProjectedEvent>, expected: Map<string, bigint>): boolean {
    const reached = this.readModels.applyBatch(this.projections, batch, expected);
    if (!reached) return false;
    let position: bigint | undefined;
    for (const [name, p] of reached) {
      expected.set(name, p);
      if (position === undefined || p < position) position = p;
    }
    this.lastError = undefined;
    this.waiters.notify();
    this.onApplied(position ?? -1n);
    return true;
  }

  private checkpoints(): Map<string, bigint> {
    const states = this.readModels.states();
    return new Map(this.projections.map((p) => [p.name, states.get(p.name)?.position ?? -1n]));
  }
}

/**
 * A page's events, each decoded when the batch reaches it, its row let go of once it is: the page's
 * text and its decoded events are then garbage as the batch goes, not kept to its end. `rows` is the
 * page just read, an array nothing else holds.
 */
function* decodedWhenReached(rows: readonly StoredEventText[]): Generator<ProjectedEvent> {
  const pending = rows as (StoredEventText | undefined)[];
  for (let i = 0; i < pending.length; i++) {
    const projected = projectStoredEvent(pending[i]!);
    pending[i] = undefined;
    if (projected) yield projected;
  }
}

/** The position every one of `projections` has reached in `readModels` (-1n before the first event). */
export function projectedPosition(readModels: SqliteReadModelStore, projections: readonly Projection<unknown>[]): bigint {
  const states = readModels.states();
  let lowest: bigint | undefined;
  for (const projection of projections) {
    const position = states.get(projection.name)?.position ?? -1n;
    if (lowest === undefined || position < lowest) lowest = position;
  }
  return lowest ?? -1n;
}
