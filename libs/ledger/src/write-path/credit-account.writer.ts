import {
  answer,
  LedgerError,
  companiesRead,
  creditAccountStream,
  decide,
  evolve,
  idempotencyKeyOf,
  idempotencyKeysRead,
  initialState,
  mergeWindows,
  snapshotOf,
  stateFromSnapshot,
  type CompanyRevealed,
  type CreditAccountAnswer,
  type CreditAccountCommand,
  type CreditAccountState,
  type IdempotencyEntries,
  type Instant,
  type RevealWindow,
} from '#domain';
import {
  StoreUnavailableError,
  StreamNotFoundError,
  type AppendOutcome,
  type AppendRequest,
  type EventStore,
  type NewEvent,
} from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import { decodeEvent, encodeEvent } from '../events/event-codec.js';
import { newEventId } from '../events/event-id.js';
import { evictWithSecondChance, type SecondChance } from '../caching/second-chance-eviction.js';
import type { CommandContext } from '../events/event-metadata.js';
import type { AccountSnapshots } from '../snapshots/account-snapshots.port.js';
import { EntriesElsewhere } from './entries-elsewhere.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A command as submitted: without `occurredAt` it happens when it is decided. */
export type SubmittedCommand = DistributiveOmit<CreditAccountCommand, 'occurredAt'> & {
  readonly occurredAt?: Instant;
};

export interface WriterOptions {
  /**
   * Commands decided per group commit, across all accounts. Default 500: small enough that the next
   * group is decided while one is written (with an append thread, the deciding thread never waits),
   * large enough that an fsync is shared by many commands.
   */
  readonly maxCommandsPerFlush?: number;
  /** Group commits whose appends may be in flight at once (the next is decided while one is written). */
  readonly maxFlushesInFlight?: number;
  /** Account states kept in memory; idle ones beyond this are evicted, least recently used first. */
  readonly maxCachedAccounts?: number;
  /** How many times a command is decided again after concurrency conflicts before giving up. */
  readonly maxConflictRetries?: number;
  readonly newEventId?: () => string;
  /**
   * Where account states are snapshotted: an account is then loaded from its last snapshot and the
   * events after it, and its idempotency entries older than the snapshot are looked up there by key
   * instead of being held in memory.
   */
  readonly snapshots?: AccountSnapshots;
  /**
   * Events an account may gain after its last snapshot before the next is taken. Default 2,500: folding
   * that many after a snapshot takes well under 100 ms. Each account takes its own between half this and
   * this (see `snapshotEveryOf`).
   */
  readonly snapshotEvery?: number;
  /**
   * Idempotency entries an account keeps in memory once they are in the snapshot store; beyond it, the
   * stored ones leave memory and each new key costs an indexed lookup. Default 100,000.
   */
  readonly maxEntriesInMemory?: number;
  /**
   * Keys an account may gain after the snapshot being stored was captured; beyond it, its commands wait
   * in its queue until that snapshot is stored. Their entries cannot leave memory before they are stored,
   * so an account charged faster than its entries are stored would otherwise grow without bound (random
   * request ids cost the snapshot store a page an entry). Default 100,000.
   */
  readonly maxUnsavedEntries?: number;
  /**
   * Keys of entries that left memory given to the account's key filter per turn of the event loop (see
   * `entriesLeaveMemory`). Default 4,096.
   */
  readonly entriesLeavingPerTurn?: number;
  /**
   * Companies whose reveal windows an account keeps in memory once they are in the snapshot store;
   * beyond it, the stored ones leave memory and a reveal naming one fetches it again. Default 20,000.
   */
  readonly maxWindowsInMemory?: number;
  /**
   * Told of every command as it is answered: its type, how it ended, and the seconds since it was
   * submitted (see `CommandSettled`).
   */
  readonly onCommandSettled?: CommandSettled;
}

/** How a command ended: stored, a retry answered from its key, refused by the rules, or not stored. */
export type CommandOutcome = 'recorded' | 'replayed' | 'refused' | 'unavailable' | 'failed';

/**
 * Times commands for whoever keeps metrics. The writer times them itself, in two fields of the job it
 * queues anyway: an async wrapper around each command's promise, with a timer's closure and its labels,
 * was held for the whole append and copied by every young-generation collection meanwhile (a sixth of
 * what survived them over 10,000 accounts, docs/benchmarks.md). Must not throw.
 */
export type CommandSettled = (type: string, outcome: CommandOutcome, seconds: number) => void;

/** A policy check at decision time: an error refuses the command, undefined admits it. */
export type Admission = (now: Instant) => Error | undefined;

export interface Execution {
  readonly answer: CreditAccountAnswer;
  /** The command was a retry of one already recorded: nothing new was written. */
  readonly replayed: boolean;
}

/**
 * Idempotency entries sent to the snapshot store at a time while snapshotting: a store writing in the
 * calling thread holds it that long, and one writing in a thread of its own copies each slice across.
 */
const SNAPSHOT_SLICE = 5_000;

/**
 * The entries an account had in memory when its stored ones left (see `entriesLeaveMemory`), until every
 * key among them that left is in the account's key filter.
 */
interface LeavingEntries {
  /** The state they left: a reload replaces it, and with it what is in memory and elsewhere. */
  readonly state: CreditAccountState;
  readonly entries: IdempotencyEntries;
  /** Their keys not yet given to the filter, in the map's order. */
  readonly keys: Iterator<string>;
  /** Keys changed since the snapshot: their entries stayed in memory and are not in the filter. */
  readonly stayed: ReadonlySet<string>;
}

/** Another writer kept winning the race for this account; the command was not applied. */
export class ConcurrencyRetriesExhaustedError extends StoreUnavailableError {
  constructor(readonly accountId: string) {
    super(`Account ${accountId} is being written concurrently by another instance; retry the command`);
    this.name = 'ConcurrencyRetriesExhaustedError';
  }
}

type RunJob = (state: CreditAccountState, now: Instant, slot: AccountSlot) => JobOutcome;

/** A command or a read queued for an account, answered through `resolve` or `reject` once. */
class Job {
  /** Times the job was decided again after a conflict. */
  attempts = 0;

  constructor(
    readonly run: RunJob,
    private readonly resolvePromise: (value: unknown) => void,
    private readonly rejectPromise: (error: unknown) => void,
    /** The idempotency key of the command, for snapshots to know which entries changed. */
    readonly key: string | undefined,
    /** A command's type, when it is timed; undefined for a read. */
    private readonly timedAs: string | undefined,
    private readonly submittedAt: number,
    private readonly settled: CommandSettled | undefined,
  ) {}

  resolve(value: unknown): void {
    this.resolvePromise(value);
    if (this.timedAs !== undefined) this.settled?.(this.timedAs, (value as Execution).replayed ? 'replayed' : 'recorded', this.seconds());
  }

  reject(error: unknown): void {
    this.rejectPromise(error);
    if (this.timedAs !== undefined) this.settled?.(this.timedAs, outcomeOf(error), this.seconds());
  }

  private seconds(): number {
    return (performance.now() - this.submittedAt) / 1000;
  }
}

/**
 * How many events after its last snapshot make an account's next one due: between half `every` and
 * `every`, fixed by its id. A capture serializes the entries of every key the account took since its
 * last snapshot (2,500 charges: 3-4 ms of the deciding thread); accounts charged alike, all due at
 * the same count, were captured together: at 5,000 requests a second over 100 accounts, 300-400 ms in one
 * go (docs/benchmarks.md). Spread over half the interval, they come due one by one.
 */
export function snapshotEveryOf(accountId: string, every: bigint): bigint {
  // FNV-1a over the id's UTF-16 code units: any well-mixed hash would do, this one is short.
  let hash = 0x811c9dc5;
  for (let i = 0; i < accountId.length; i++) hash = Math.imul(hash ^ accountId.charCodeAt(i), 0x01000193);
  const spread = every / 2n;
  return spread === 0n ? every : every - BigInt((hash >>> 0) % Number(spread));
}

/** A new map of the entries of `map` under `keys` (those it has): what stays in memory when the rest leaves. */
function onlyOf<V>(map: ReadonlyMap<string, V>, keys: ReadonlySet<string>): Map<string, V> {
  const only = new Map<string, V>();
  for (const key of keys) {
    const value = map.get(key);
    if (value !== undefined) only.set(key, value);
  }
  return only;
}

function outcomeOf(error: unknown): CommandOutcome {
  if (error instanceof LedgerError) return 'refused';
  if (error instanceof StoreUnavailableError) return 'unavailable';
  return 'failed';
}

type JobOutcome =
  | { readonly ok: true; readonly value: unknown; readonly events: readonly NewEvent[] }
  | { readonly ok: false; readonly error: unknown; readonly events: readonly NewEvent[] };

interface AccountSlot extends SecondChance {
  readonly accountId: string;
  readonly streamId: string;
  /** Events after its last snapshot that make the next one due (`snapshotEveryOf`). */
  readonly snapshotEvery: bigint;
  /** The state after every event decided so far: stored ones, and those of appends still in flight. */
  state: CreditAccountState | undefined;
  /** The revision of the last event decided so far (stored or in flight): the next append expects it. */
  revision: bigint | 'no_stream';
  /** The global position of the account's last event written by this writer. */
  lastPosition: bigint | undefined;
  readonly queue: Job[];
  /** A group commit has taken the account and not yet sent its append. */
  taken: boolean;
  /** Appends of the account sent and not yet answered. */
  inFlight: number;
  /**
   * The account's last append sent, until it is answered: the group's appends and its place among them.
   * A decision that wrote nothing waits for it (see `decideBatch`); most never do, so the promise of its
   * outcome is made only then.
   */
  tail: { readonly appending: Promise<AppendOutcome[]>; readonly index: number } | undefined;
  /** In `dirty`: the account has commands to decide. */
  dirty: boolean;
  /** An append in flight failed or conflicted: the state is not what the store holds. */
  doubtful: boolean;
  /** Commands to decide again once the account is reloaded, in the order they were first decided. */
  retry: Job[];
  /** The most attempts among them after a conflict: the backoff before deciding them again. */
  conflictAttempts: number;
  /**
   * The id of the last event sent (stored or in flight): an append decided on top of it names it, and a
   * snapshot captured now records it.
   */
  lastSentEventId: string | undefined;
  /** The revision of the account's latest snapshot, if any. */
  snapshotRevision: bigint | undefined;
  /** Set once some idempotency entries of the state are not in memory but in the snapshot store. */
  entriesElsewhere: EntriesElsewhere | undefined;
  /** Entries that left memory and whose keys are still being given to `entriesElsewhere`. */
  leaving: LeavingEntries | undefined;
  /** Keys whose entries changed since the last snapshot was captured: the next one stores them. */
  unsaved: string[];
  /** Companies whose reveal windows changed since the last snapshot was captured: the next one stores them. */
  unsavedWindows: string[];
  /**
   * Some companies' reveal windows are in the snapshot store and not in memory (the account was loaded
   * from a snapshot, or they left): a company missing from the state's windows is fetched before a
   * command naming it is decided.
   */
  windowsElsewhere: boolean;
  snapshotting: boolean;
  /** Its commands wait until the snapshot being stored is (see `maxUnsavedEntries`). */
  held: boolean;
}

interface Batch {
  readonly slot: AccountSlot;
  readonly jobs: Job[];
  readonly outcomes: JobOutcome[];
  readonly events: NewEvent[];
  /** The revision the batch's append expects. */
  readonly expected: bigint | 'no_stream';
  /** For a batch that writes nothing, decided while appends of its account were in flight: the last one. */
  dependsOn?: Promise<boolean>;
}

interface CapturedSnapshot {
  readonly slot: AccountSlot;
  readonly state: CreditAccountState;
  readonly revision: bigint;
  readonly eventId: string;
  readonly keys: string[];
  readonly entries: (readonly [string, string])[];
  /** The reveal windows of each company whose windows changed since the last snapshot, as JSON. */
  readonly windows: (readonly [string, string])[];
  readonly snapshot: string;
  /** Whether the events it holds were stored: it may be captured while the last of them are in flight. */
  readonly stored: Promise<boolean>;
}

/**
 * The write path of DESIGN.md section 3. Commands for one account are serialized: each is decided
 * against the account's cached state, in arrival order. The events of a group commit — across
 * accounts — go to the store in one call, each stream's append carrying its expected revision, and
 * callers are answered only after the append is durable.
 *
 * Group commits are pipelined: while one group's append is in flight, the next is decided, for any
 * account, on top of the events still in flight. That is safe because every append expects the exact
 * revision the previous one ends at, so the store takes a group only if everything it was decided on
 * was stored first; and nothing is answered before then: a decision that wrote nothing (a retry, a
 * refusal, a read) waits for the account's last append in flight, or else is sent as an append of no
 * events, which stores nothing and holds only if no other instance moved the account on. When an
 * append fails or conflicts, the account takes no new decisions until its appends in flight are
 * answered; it is then reloaded from the store and the commands of the failed-over appends are
 * decided again (a store error is instead passed to its callers, who retry by key — whether it was
 * written is unknown).
 */
export class CreditAccountWriter {
  /** In the order the accounts were first used or last spared by the eviction sweep (see `evictIdle`). */
  private readonly slots = new Map<string, AccountSlot>();
  /** Accounts with commands to decide, each once, in the order they got them. */
  private dirty: AccountSlot[] = [];
  private flushScheduled = false;
  /** Group commits started and not yet done with their answers. */
  private flushes = 0;
  /** Decisions that wrote nothing, waiting for an earlier append of their account. */
  private dependents = 0;
  private closed = false;
  private highest: bigint | undefined;
  /** Accounts waiting out a backoff after a conflict, before their commands are decided again. */
  private backingOff = 0;
  /** Accounts being loaded from the store, each taken until it is. */
  private loading = 0;
  /** Accounts whose commands wait for a snapshot to be stored (`maxUnsavedEntries`). */
  private held = 0;
  private readonly maxCommandsPerFlush: number;
  private readonly maxFlushesInFlight: number;
  private readonly maxCachedAccounts: number;
  private readonly maxConflictRetries: number;
  private readonly newEventId: () => string;
  private readonly snapshots: AccountSnapshots | undefined;
  private readonly snapshotEvery: bigint;
  private readonly maxEntriesInMemory: number;
  private readonly maxUnsavedEntries: number;
  private readonly entriesLeavingPerTurn: number;
  private readonly maxWindowsInMemory: number;
  private readonly onCommandSettled: CommandSettled | undefined;
  private readonly captured: CapturedSnapshot[] = [];
  private snapshotsRunning: Promise<void> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    options: WriterOptions = {},
  ) {
    this.maxCommandsPerFlush = options.maxCommandsPerFlush ?? 500;
    this.maxFlushesInFlight = options.maxFlushesInFlight ?? 4;
    this.maxCachedAccounts = options.maxCachedAccounts ?? 100_000;
    this.maxConflictRetries = options.maxConflictRetries ?? 30;
    this.newEventId = options.newEventId ?? newEventId;
    this.snapshots = options.snapshots;
    this.snapshotEvery = BigInt(options.snapshotEvery ?? 2_500);
    this.maxEntriesInMemory = options.maxEntriesInMemory ?? 100_000;
    this.maxUnsavedEntries = options.maxUnsavedEntries ?? 100_000;
    this.entriesLeavingPerTurn = options.entriesLeavingPerTurn ?? 4_096;
    // Fewer than one a turn, a leaving would never end and would turn the event loop for ever.
    if (!Number.isInteger(this.entriesLeavingPerTurn) || this.entriesLeavingPerTurn < 1) {
      throw new RangeError(`entriesLeavingPerTurn must be a positive integer (got ${this.entriesLeavingPerTurn})`);
    }
    this.maxWindowsInMemory = options.maxWindowsInMemory ?? 20_000;
    this.onCommandSettled = options.onCommandSettled;
  }

  /**
   * Decides and durably records a command; resolves with the caller's answer or rejects with a refusal.
   * `admit` is a policy about the caller (say, who may back-date a command) checked at decision time;
   * it is skipped for a retry of a known idempotency key, which gets its original answer whatever.
   */
  execute(command: SubmittedCommand, context: CommandContext, admit?: Admission): Promise<Execution> {
    const causationId = idempotencyKeyOf(command as CreditAccountCommand);
    return this.enqueue(command.accountId, (state, now, slot) => {
      if (slot.entriesElsewhere) this.fetchEntries(slot, slot.entriesElsewhere, state, command as CreditAccountCommand);
      if (slot.windowsElsewhere) this.fetchWindows(slot, state, companiesRead(command as CreditAccountCommand));
      if (admit && !state.idempotency.has(causationId)) {
        const refusal = admit(now);
        if (refusal) return { ok: false, error: refusal, events: [] };
      }
      const occurredAt = command.occurredAt ?? Math.max(now, state.latestEventAt ?? now);
      // The time goes in before the copied fields and is set again after them (a command may carry an
      // `occurredAt: undefined`): a property added after a spread cost 0.75 µs a command.
      const decided = { occurredAt, ...command } as CreditAccountCommand;
      (decided as { occurredAt: Instant }).occurredAt = occurredAt;
      const decision = decide(decided, state);
      const events = decision.events.map((event) => {
        evolve(state, event);
        return encodeEvent(event, this.newEventId(), causationId, context);
      });
      if (decision.refusal) return { ok: false, error: decision.refusal, events };
      // Without events the state is as it was: a key it holds now, it held before (a retry). Asked only
      // then: a lookup in a map of up to `maxEntriesInMemory` keys costs a charge 0.1-0.3 µs.
      const replayed = events.length === 0 && state.idempotency.has(causationId);
      const execution: Execution = { answer: answer(decided, state, decision.events), replayed };
      return { ok: true, value: execution, events };
    }, causationId, command.type) as Promise<Execution>;
  }

  /**
   * Reads an account's state in line with its commands: after everything submitted before it is
   * durable, never seeing a decision that was not stored.
   */
  read<T>(accountId: string, read: (state: CreditAccountState, now: Instant) => T): Promise<T> {
    return this.enqueue(accountId, (state, now) => ({ ok: true, value: read(state, now), events: [] })) as Promise<T>;
  }

  /** Stops accepting commands and waits for those already accepted to be stored. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushes > 0 || this.dirty.length > 0 || this.backingOff > 0 || this.dependents > 0 || this.loading > 0 || this.held > 0) {
      if (this.flushes === 0 && this.dirty.length > 0) void this.flush();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // Snapshots already captured are stored: the next start then folds fewer events.
    while (this.snapshotsRunning) await this.snapshotsRunning;
  }

  /**
   * Where this writer last wrote the account's events in the global order: a read model that has
   * reached it reflects every command this process answered for the account.
   */
  lastPosition(accountId: string): bigint | undefined {
    return this.slots.get(accountId)?.lastPosition;
  }

  /** The highest global position this writer has written: feeds across accounts wait for it. */
  get highestPosition(): bigint | undefined {
    return this.highest;
  }

  get cachedAccounts(): number {
    return this.slots.size;
  }

  private enqueue(accountId: string, run: RunJob, key?: string, timedAs?: string): Promise<unknown> {
    if (this.closed) {
      const error = new StoreUnavailableError('The ledger is shutting down');
      if (timedAs !== undefined) this.onCommandSettled?.(timedAs, 'unavailable', 0);
      return Promise.reject(error);
    }
    const submittedAt = timedAs === undefined || this.onCommandSettled === undefined ? 0 : performance.now();
    return new Promise((resolve, reject) => {
      const slot = this.slotOf(accountId);
      slot.queue.push(new Job(run, resolve, reject, key, timedAs, submittedAt, this.onCommandSettled));
      this.markDirty(slot);
      this.scheduleFlush();
    });
  }

  private markDirty(slot: AccountSlot): void {
    if (slot.dirty) return;
    slot.dirty = true;
    this.dirty.push(slot);
  }

  private slotOf(accountId: string): AccountSlot {
    let slot = this.slots.get(accountId);
    if (slot) {
      slot.used = true;
    } else {
      slot = {
        accountId,
        streamId: creditAccountStream(accountId),
        snapshotEvery: snapshotEveryOf(accountId, this.snapshotEvery),
        state: undefined,
        revision: 'no_stream',
        lastPosition: undefined,
        queue: [],
        taken: false,
        inFlight: 0,
        tail: undefined,
        dirty: false,
        used: false,
        doubtful: false,
        retry: [],
        conflictAttempts: 0,
        lastSentEventId: undefined,
        snapshotRevision: undefined,
        entriesElsewhere: undefined,
        leaving: undefined,
        unsaved: [],
        unsavedWindows: [],
        windowsElsewhere: false,
        snapshotting: false,
        held: false,
      };
      this.slots.set(accountId, slot);
    }
    return slot;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushes >= this.maxFlushesInFlight || this.dirty.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushes >= this.maxFlushesInFlight || this.dirty.length === 0) return;
    this.flushes += 1;
    try {
      await this.groupCommit();
    } finally {
      this.flushes -= 1;
      this.evictIdle();
      this.scheduleFlush();
    }
  }

  private async groupCommit(): Promise<void> {
    const slots: AccountSlot[] = [];
    for (const slot of this.takeDirty()) {
      if (slot.state) slots.push(slot);
      else this.loadThenDecide(slot);
    }
    if (slots.length === 0) return;

    const batches: Batch[] = [];
    let budget = this.maxCommandsPerFlush;
    for (const slot of slots) {
      if (budget <= 0 || !slot.state) continue;
      if (slot.snapshotting && slot.unsaved.length >= this.maxUnsavedEntries) {
        // Released when that snapshot is done with (`snapshotDone`), not retried at every group commit.
        if (!slot.held) this.held += 1;
        slot.held = true;
        continue;
      }
      const jobs = slot.queue.splice(0, budget);
      budget -= jobs.length;
      batches.push(this.decideBatch(slot, jobs));
    }

    // Every batch goes to the store but those decided on top of appends in flight that wrote nothing (they
    // are answered when those are stored). A batch that wrote nothing is sent as an append of no events:
    // it is answered only once the store confirms the account is where it was decided. Another instance
    // may have moved it on, and this one would refuse a charge it can pay, or not know a retry's key.
    const writing = batches.filter((batch) => batch.jobs.length > 0 && batch.dependsOn === undefined);
    const requests: AppendRequest[] = writing.map(({ slot, expected, events }) => {
      const request: { -readonly [K in keyof AppendRequest]: AppendRequest[K] } = { streamId: slot.streamId, expectedRevision: expected, events };
      if (events.length > 0) {
        // Decided on top of appends still in flight: it must land only on top of them (see `expectedEventId`).
        if (slot.inFlight > 0) request.expectedEventId = slot.lastSentEventId;
        slot.lastSentEventId = events[events.length - 1]!.id;
      }
      return request;
    });
    const appending: Promise<AppendOutcome[]> = requests.length > 0 ? this.store.appendMany(requests) : Promise.resolve([]);
    writing.forEach((batch, index) => {
      batch.slot.inFlight += 1;
      batch.slot.tail = { appending, index };
    });
    // Captured now, while the group is written, and stored only once it is (see `storeSnapshots`).
    for (const batch of writing) if (batch.events.length > 0) this.considerSnapshot(batch.slot);
    // The accounts are free for the next group commit, which may be decided while this one is written.
    for (const slot of slots) {
      slot.taken = false;
      if (slot.queue.length > 0 && !slot.held) this.markDirty(slot);
    }
    this.scheduleFlush();

    let outcomes: AppendOutcome[];
    try {
      outcomes = await appending;
    } catch (error) {
      // Whether anything was written is unknown: the callers retry by key, and the accounts are reloaded.
      for (const batch of writing) {
        for (const job of batch.jobs) job.reject(error);
        batch.slot.doubtful = true;
      }
      for (const batch of batches) if (batch.dependsOn) this.settleWhenStored(batch, batch.dependsOn);
      for (const batch of writing) this.answered(batch.slot);
      return;
    }

    writing.forEach((batch, i) => {
      const outcome = outcomes[i]!;
      const { slot } = batch;
      if (outcome.ok && batch.events.length === 0) {
        this.settle(batch);
      } else if (outcome.ok) {
        slot.lastPosition = outcome.position.commit;
        if (this.highest === undefined || outcome.position.commit > this.highest) this.highest = outcome.position.commit;
        this.settle(batch);
      } else {
        this.retryAfterConflict(batch);
      }
    });
    for (const batch of batches) if (batch.dependsOn) this.settleWhenStored(batch, batch.dependsOn);
    for (const batch of writing) this.answered(batch.slot);
  }

  /**
   * The accounts to decide now. Left for later (each is marked dirty again when that changes): one
   * another group commit is deciding; one whose state is in doubt while appends are in flight.
   */
  private takeDirty(): AccountSlot[] {
    const slots: AccountSlot[] = [];
    const dirty = this.dirty;
    this.dirty = [];
    for (const slot of dirty) {
      slot.dirty = false;
      if (slot.taken || (slot.inFlight > 0 && slot.doubtful)) continue;
      slot.taken = true;
      slots.push(slot);
    }
    return slots;
  }

  /** One of the account's appends was answered; once none is in flight, a doubtful state is dropped. */
  private answered(slot: AccountSlot): void {
    slot.inFlight -= 1;
    if (slot.inFlight > 0) return;
    slot.tail = undefined;
    if (slot.doubtful) {
      slot.doubtful = false;
      slot.state = undefined;
      slot.queue.unshift(...slot.retry);
      slot.retry = [];
      const attempts = slot.conflictAttempts;
      slot.conflictAttempts = 0;
      if (attempts > 0 && slot.queue.length > 0) {
        // Two instances racing for one account would collide again at once: wait a random, growing moment.
        const delay = Math.random() * Math.min(50, 2 ** attempts);
        this.backingOff += 1;
        setTimeout(() => {
          this.backingOff -= 1;
          this.markDirty(slot);
          this.scheduleFlush();
        }, delay);
        return;
      }
    } else {
      this.considerSnapshot(slot);
    }
    if (slot.queue.length > 0) {
      this.markDirty(slot);
      this.scheduleFlush();
    }
  }

  private decideBatch(slot: AccountSlot, jobs: Job[]): Batch {
    const expected = slot.revision;
    const batch: Batch = { slot, jobs, outcomes: [], events: [], expected };
    const state = slot.state!;
    try {
      for (const job of jobs) {
        const outcome = job.run(state, this.clock.now(), slot);
        batch.outcomes.push(outcome);
        if (outcome.events.length === 0) continue;
        batch.events.push(...outcome.events);
        // Noted when decided, not when stored: a snapshot stored meanwhile must not count these entries
        // and windows as stored, nor let them leave memory. If the append fails, the state is reloaded and
        // the notes start again from what that load puts in memory.
        if (!this.snapshots) continue;
        if (job.key !== undefined) slot.unsaved.push(job.key);
        for (const event of outcome.events) if (event.type === 'CompanyRevealed') slot.unsavedWindows.push((event.data as CompanyRevealed['data']).companyId);
      }
    } catch (error) {
      // A decision or evolution threw: a bug, not a refusal. The state may be half-applied; drop it.
      for (const job of jobs) job.reject(error);
      if (slot.inFlight > 0) slot.doubtful = true;
      else slot.state = undefined;
      return { slot, jobs: [], outcomes: [], events: [], expected };
    }
    if (batch.events.length > 0) {
      slot.revision = (expected === 'no_stream' ? -1n : expected) + BigInt(batch.events.length);
    } else if (slot.inFlight > 0) {
      batch.dependsOn = this.storedSoFar(slot);
    }
    return batch;
  }

  /**
   * Whether everything decided for the account until now gets stored: its last append sent is, then so
   * is every one before it (each expects the exact revision the one before ends at).
   */
  private storedSoFar(slot: AccountSlot): Promise<boolean> {
    if (slot.inFlight === 0) return Promise.resolve(true);
    const { appending, index } = slot.tail!;
    return appending.then(
      (outcomes) => outcomes[index]!.ok,
      () => false,
    );
  }

  private settle(batch: Batch): void {
    batch.jobs.forEach((job, i) => {
      const outcome = batch.outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  /**
   * Answers a batch that wrote nothing once what it was decided on is stored; if that append failed,
   * its commands are decided again against the account as reloaded.
   */
  private settleWhenStored(batch: Batch, dependsOn: Promise<boolean>): void {
    this.dependents += 1;
    void dependsOn.then((stored) => {
      this.dependents -= 1;
      if (stored) {
        this.settle(batch);
        return;
      }
      const { slot } = batch;
      // While the account waits for its appends in flight before it is reloaded, the commands wait with
      // the others to decide again. It may be past that already: this is only called once the append of
      // the group that decided them is answered, and by then the account can be reloaded, with new appends
      // in flight. Left to wait then, they would never be decided again nor answered.
      if (slot.doubtful && slot.inFlight > 0) {
        slot.retry.push(...batch.jobs);
      } else {
        slot.queue.unshift(...batch.jobs);
        this.markDirty(slot);
        this.scheduleFlush();
      }
    });
  }

  private retryAfterConflict(batch: Batch): void {
    const { slot } = batch;
    // The events decided on top of this append are not in the store: the state must be rebuilt.
    slot.doubtful = true;
    for (const job of batch.jobs) {
      job.attempts += 1;
      if (job.attempts > this.maxConflictRetries) {
        job.reject(new ConcurrencyRetriesExhaustedError(slot.accountId));
        continue;
      }
      slot.retry.push(job);
      slot.conflictAttempts = Math.max(slot.conflictAttempts, job.attempts);
    }
  }

  /**
   * Loads an account beside the group commits, not inside one: a group that waited for the loads of
   * cold accounts (an expiry sweep after a restart folds thousands) held up the accounts in memory with
   * it. The account stays taken until it is loaded; its commands are then decided by the next group.
   */
  private loadThenDecide(slot: AccountSlot): void {
    this.loading += 1;
    void this.load(slot).finally(() => {
      this.loading -= 1;
      slot.taken = false;
      if (slot.queue.length > 0) this.markDirty(slot);
      this.scheduleFlush();
    });
  }

  private async load(slot: AccountSlot): Promise<void> {
    try {
      if (!(await this.loadFromSnapshot(slot))) await this.loadFrom(slot, initialState(), undefined);
    } catch (error) {
      const jobs = slot.queue.splice(0);
      for (const job of jobs) job.reject(error);
    }
  }

  /** Folds the stream after `from` (all of it when undefined) into `state`, then installs it in the slot. */
  private async loadFrom(slot: AccountSlot, state: CreditAccountState, from: bigint | undefined): Promise<void> {
    let revision: bigint | 'no_stream' = from ?? 'no_stream';
    // From a snapshot, the id of its event (set just before); a full fold finds every id itself (the slot
    // may still hold that of an append that failed).
    let lastEventId = from === undefined ? undefined : slot.lastSentEventId;
    let folded = 0n;
    const revealed: string[] = [];
    try {
      const events = this.store.readStream(slot.streamId, from === undefined ? {} : { fromRevision: from + 1n });
      for await (const recorded of events) {
        const event = decodeEvent(recorded);
        evolve(state, event);
        if (event.type === 'CompanyRevealed') revealed.push(event.data.companyId);
        revision = recorded.revision;
        lastEventId = recorded.id;
        folded += 1n;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    // Loaded from a snapshot, the companies revealed since have only their new windows in memory: each
    // gets its stored ones too, before anything is decided.
    if (from !== undefined && revealed.length > 0) {
      for (const [companyId, stored] of this.snapshots!.findWindows(slot.accountId, [...new Set(revealed)])) {
        state.windows.set(companyId, mergeWindows(stored, state.windows.get(companyId)!));
      }
    }
    slot.state = state;
    slot.revision = revision;
    slot.lastSentEventId = lastEventId;
    // What the fold put in memory is everything the snapshot store may lack (windows come only from
    // reveals, so after a fold from the first event these are every company's).
    slot.unsaved = [...state.idempotency.keys()];
    slot.unsavedWindows = revealed;
    slot.windowsElsewhere = from !== undefined;
    if (from === undefined) {
      slot.entriesElsewhere = undefined;
      slot.snapshotRevision = undefined;
    }
    // A long fold is worth not doing again.
    if (folded >= slot.snapshotEvery) this.considerSnapshot(slot);
  }

  /**
   * Loads the account from its snapshot if there is one and the stream agrees with it: the event at the
   * snapshot's revision must be the one it was taken at (a data directory reused with another store, or
   * a stream that was reset, would otherwise resurrect a state that never existed). False to fold from 0.
   */
  private async loadFromSnapshot(slot: AccountSlot): Promise<boolean> {
    const stored = this.snapshots?.load(slot.accountId);
    if (!stored) return false;
    try {
      for await (const recorded of this.store.readStream(slot.streamId, { fromRevision: stored.revision, maxCount: 1 })) {
        if (recorded.revision !== stored.revision || recorded.id !== stored.eventId) return false;
        slot.lastSentEventId = recorded.id;
        slot.snapshotRevision = stored.revision;
        slot.entriesElsewhere = EntriesElsewhere.unknown();
        // Without its reveal windows: a reveal-heavy account has hundreds of thousands, and a command needs
        // only those of the companies it names.
        await this.loadFrom(slot, stateFromSnapshot(stored.snapshot), stored.revision);
        return true;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return false;
  }

  /** Brings into memory the idempotency entries a command reads that only the snapshot store holds. */
  private fetchEntries(slot: AccountSlot, elsewhere: EntriesElsewhere, state: CreditAccountState, command: CreditAccountCommand): void {
    const leaving = slot.leaving?.state === state ? slot.leaving.entries : undefined;
    for (const key of idempotencyKeysRead(command)) {
      if (leaving && !state.idempotency.has(key)) {
        // It may have left and not be in the filter yet; what left is what the store holds.
        const entry = leaving.get(key);
        if (entry) {
          state.idempotency.set(key, entry);
          continue;
        }
      }
      // The filter first: it rules out nearly every new key, and costs less than a lookup in the map.
      if (!elsewhere.mightHold(key) || state.idempotency.has(key)) continue;
      const entry = this.snapshots!.findEntry(slot.accountId, key);
      if (entry) state.idempotency.set(key, entry);
      elsewhere.lookedUp(() => this.snapshots!.storedKeys(slot.accountId));
    }
  }

  /**
   * Brings into memory the stored reveal windows of the companies a command names. A company with no
   * row has none; it is looked up again next time unless a window opens for it (a lookup of a company
   * without a row costs well under a microsecond, and most are then charged). A row can be ahead of the
   * state (another instance's snapshot): a decision taken on it is refused by the store, whose stream is
   * ahead too.
   */
  private fetchWindows(slot: AccountSlot, state: CreditAccountState, companies: readonly string[]): void {
    let missing: string[] | undefined;
    for (const companyId of companies) if (!state.windows.has(companyId)) (missing ??= []).push(companyId);
    if (!missing) return;
    for (const [companyId, windows] of this.snapshots!.findWindows(slot.accountId, missing)) {
      state.windows.set(companyId, windows as RevealWindow[]);
    }
  }

  private snapshotIsDue(slot: AccountSlot): boolean {
    return typeof slot.revision === 'bigint' && slot.revision - (slot.snapshotRevision ?? -1n) >= slot.snapshotEvery;
  }

  /**
   * Captures the account's state now if a snapshot is due. Called only when every event decided for the
   * account has been sent, some perhaps still in flight: the snapshot then holds exactly the events up to
   * the last one sent, and is stored beside the write path once they are. Waiting for them to be stored
   * before capturing held up a hot account's commands at every snapshot (docs/benchmarks.md).
   */
  private considerSnapshot(slot: AccountSlot): void {
    const state = slot.state;
    if (!this.snapshots || !state || slot.snapshotting || slot.doubtful) return;
    if (!this.snapshotIsDue(slot) || slot.lastSentEventId === undefined) return;
    slot.snapshotting = true;
    const keys = slot.unsaved;
    slot.unsaved = [];
    const entries: (readonly [string, string])[] = [];
    // Serialized now: entries change as later events are applied (a webhook refused, then charged),
    // and so do lots and windows.
    for (const key of new Set(keys)) {
      const entry = state.idempotency.textOf(key);
      if (entry !== undefined) entries.push([key, entry]);
    }
    const windows: (readonly [string, string])[] = [];
    for (const companyId of new Set(slot.unsavedWindows)) windows.push([companyId, JSON.stringify(state.windows.get(companyId) ?? [])]);
    slot.unsavedWindows = [];
    const snapshot = JSON.stringify(snapshotOf(state));
    const stored = this.storedSoFar(slot);
    this.captured.push({ slot, state, revision: slot.revision as bigint, eventId: slot.lastSentEventId, keys, entries, windows, snapshot, stored });
    this.snapshotsRunning ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.storeSnapshots())
      .finally(() => {
        this.snapshotsRunning = undefined;
      });
  }

  /**
   * Stores the captured snapshots, each once the events it holds are: idempotency entries first, in
   * slices (each its own transaction, so commands keep flowing), the snapshot row last. Once it is
   * stored, the entries it covers leave memory: lookups by key find them, which keeps a hot account's
   * memory bounded by the events since its last snapshot.
   */
  private async storeSnapshots(): Promise<void> {
    const snapshots = this.snapshots!;
    for (let next = this.captured.shift(); next; next = this.captured.shift()) {
      const { slot, state, revision, eventId, keys, entries, windows, snapshot, stored } = next;
      // Nothing of it before the events it holds are stored: an entry would answer a retry of a command
      // that was never recorded. If they were not, the account is reloaded (its state was in doubt), and
      // what that puts in memory is unsaved again.
      if (!(await stored)) {
        this.snapshotDone(slot);
        continue;
      }
      try {
        // Sent a slice a turn, each without waiting for the one before: a store that writes in a thread of
        // its own writes together the slices that reach it while it is busy (fewer pages an entry).
        const slices: Promise<void>[] = [];
        for (let i = 0; i < entries.length; i += SNAPSHOT_SLICE) {
          if (i > 0) await new Promise((resolve) => setImmediate(resolve));
          const sent = snapshots.saveEntries(slot.accountId, revision, entries.slice(i, i + SNAPSHOT_SLICE));
          // A failure is seen by the `Promise.all` below, perhaps some turns later: not an unhandled one.
          sent.catch(() => undefined);
          slices.push(sent);
        }
        await Promise.all(slices);
        await snapshots.saveSnapshot(slot.accountId, { revision, eventId, state: snapshot, windows });
        if (slot.state === state) {
          slot.snapshotRevision = revision;
          if (state.idempotency.size > this.maxEntriesInMemory) this.entriesLeaveMemory(slot, state);
          if (state.windows.size > this.maxWindowsInMemory) this.windowsLeaveMemory(slot, state);
        }
        this.snapshotDone(slot);
        // The account may have gone past the next snapshot point while this one was being stored.
        if (slot.state === state) this.considerSnapshot(slot);
      } catch {
        // Snapshots are an optimisation: a failed one leaves the account to be folded from its events;
        // the entries it did not store are still to be stored by the next, tried after the account's
        // next append (not now: a store that refuses at once would have this loop spin).
        this.snapshotDone(slot);
        if (slot.state === state) {
          slot.unsaved = [...keys, ...slot.unsaved];
          slot.unsavedWindows = [...windows.map(([companyId]) => companyId), ...slot.unsavedWindows];
        }
      }
    }
  }

  /** The snapshot being stored for the account is done with, stored or not: its held commands go on. */
  private snapshotDone(slot: AccountSlot): void {
    slot.snapshotting = false;
    if (!slot.held) return;
    slot.held = false;
    this.held -= 1;
    if (slot.queue.length > 0) this.markDirty(slot);
    this.scheduleFlush();
  }

  /**
   * Leaves in memory only the entries an event changed since the snapshot just stored (the store does not
   * hold them as they are now): the state gets a new map of those, and the keys of the others are given to
   * the account's key filter a slice at a time, one slice a turn of the event loop, while lookups of them
   * are answered from the old map. Done at once, for 100,000 entries, it held the deciding thread 15-63 ms
   * (most of it adding the keys to the filter), and every account's commands waited.
   */
  private entriesLeaveMemory(slot: AccountSlot, state: CreditAccountState): void {
    this.finishLeaving(slot);
    slot.entriesElsewhere ??= EntriesElsewhere.known();
    const entries = state.idempotency;
    const stayed = new Set(slot.unsaved);
    // The domain reads and writes the entries; which of them are in memory is the writer's business.
    (state as { idempotency: IdempotencyEntries }).idempotency = entries.only(stayed);
    slot.leaving = { state, entries, keys: entries.keys(), stayed };
    setImmediate(() => this.leaveSlice(slot));
  }

  /** Gives the next slice of the keys that left to the filter; the last slice ends the leaving. */
  private leaveSlice(slot: AccountSlot, slice = this.entriesLeavingPerTurn): void {
    const leaving = slot.leaving;
    if (!leaving) return;
    // Reloaded or evicted meanwhile: what is in memory and elsewhere is now what that load made it.
    if (slot.state !== leaving.state || this.slots.get(slot.accountId) !== slot) {
      slot.leaving = undefined;
      return;
    }
    const elsewhere = slot.entriesElsewhere!;
    for (let given = 0; given < slice; given++) {
      const next = leaving.keys.next();
      if (next.done) {
        slot.leaving = undefined;
        return;
      }
      if (!leaving.stayed.has(next.value)) elsewhere.left(next.value);
    }
    setImmediate(() => this.leaveSlice(slot));
  }

  /** Ends a leaving still under way at once (the next cannot start before: it would take its map). */
  private finishLeaving(slot: AccountSlot): void {
    this.leaveSlice(slot, Number.POSITIVE_INFINITY);
  }

  /**
   * Leaves in memory only the reveal windows that changed since the snapshot just stored; a command naming
   * another company fetches its windows first (`windowsElsewhere`). The state gets a new map of those:
   * deleting the others one by one held the deciding thread 3-8 ms for 20,000 companies.
   */
  private windowsLeaveMemory(slot: AccountSlot, state: CreditAccountState): void {
    (state as { windows: Map<string, RevealWindow[]> }).windows = onlyOf(state.windows, new Set(slot.unsavedWindows));
    slot.windowsElsewhere = true;
  }

  /** Evicts idle accounts, oldest first, down to `maxCachedAccounts`, sparing once those used since (CLOCK). */
  private evictIdle(): void {
    if (this.slots.size <= this.maxCachedAccounts) return;
    evictWithSecondChance(
      this.slots,
      () => this.slots.size <= this.maxCachedAccounts,
      (slot) => !slot.taken && slot.inFlight === 0 && slot.queue.length === 0 && slot.retry.length === 0 && !slot.snapshotting && !slot.dirty,
    );
  }
}
