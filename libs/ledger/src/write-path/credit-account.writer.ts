import { randomUUID } from 'node:crypto';
import {
  answer,
  creditAccountStream,
  decide,
  evolve,
  idempotencyKeyOf,
  idempotencyKeysRead,
  initialState,
  snapshotOf,
  stateFromSnapshot,
  type CreditAccountAnswer,
  type CreditAccountCommand,
  type CreditAccountState,
  type IdempotencyEntry,
  type Instant,
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
import type { CommandContext } from '../events/event-metadata.js';
import type { AccountSnapshots } from '../snapshots/account-snapshots.port.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A command as submitted: without `occurredAt` it happens when it is decided. */
export type SubmittedCommand = DistributiveOmit<CreditAccountCommand, 'occurredAt'> & {
  readonly occurredAt?: Instant;
};

export interface WriterOptions {
  /** Commands decided per group commit, across all accounts; bounds latency under load. */
  readonly maxCommandsPerFlush?: number;
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
   * that many after a snapshot takes well under 100 ms.
   */
  readonly snapshotEvery?: number;
  /**
   * Idempotency entries an account keeps in memory once they are in the snapshot store; beyond it, the
   * stored ones leave memory and each new key costs an indexed lookup. Default 100,000.
   */
  readonly maxEntriesInMemory?: number;
}

/** A policy check at decision time: an error refuses the command, undefined admits it. */
export type Admission = (now: Instant) => Error | undefined;

export interface Execution {
  readonly answer: CreditAccountAnswer;
  /** The command was a retry of one already recorded: nothing new was written. */
  readonly replayed: boolean;
}

/** Idempotency entries written per transaction while snapshotting, so commands are not held up long. */
const SNAPSHOT_SLICE = 5_000;

/** Another writer kept winning the race for this account; the command was not applied. */
export class ConcurrencyRetriesExhaustedError extends StoreUnavailableError {
  constructor(readonly accountId: string) {
    super(`Account ${accountId} is being written concurrently by another instance; retry the command`);
    this.name = 'ConcurrencyRetriesExhaustedError';
  }
}

interface Job {
  readonly run: (state: CreditAccountState, now: Instant, slot: AccountSlot) => JobOutcome;
  /** What the job wrote into the pending batch, so a conflict can decide it again. */
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  attempts: number;
  /** The idempotency key of the command, for snapshots to know which entries changed. */
  readonly key?: string;
}

type JobOutcome =
  | { readonly ok: true; readonly value: unknown; readonly events: readonly NewEvent[] }
  | { readonly ok: false; readonly error: unknown; readonly events: readonly NewEvent[] };

interface AccountSlot {
  readonly accountId: string;
  readonly streamId: string;
  state: CreditAccountState | undefined;
  revision: bigint | 'no_stream';
  /** The global position of the account's last event written by this writer. */
  lastPosition: bigint | undefined;
  readonly queue: Job[];
  busy: boolean;
  /** The id of the event at `revision`, which a snapshot taken now records. */
  lastEventId: string | undefined;
  /** The revision of the account's latest snapshot, if any. */
  snapshotRevision: bigint | undefined;
  /** Some idempotency entries of the state are not in memory but in the snapshot store. */
  entriesElsewhere: boolean;
  /** Keys whose entries changed since the last snapshot was captured: the next one stores them. */
  unsaved: string[];
  snapshotting: boolean;
}

interface Batch {
  readonly slot: AccountSlot;
  readonly jobs: Job[];
  readonly outcomes: JobOutcome[];
  readonly events: NewEvent[];
}

/**
 * The write path of DESIGN.md section 3. Commands for one account are serialized: each is decided
 * against the account's cached state, in arrival order. Whatever arrives while a group commit is in
 * flight is decided in the next one, and all the events of a group — across accounts — go to the store
 * in one call, each stream's append carrying its expected revision. Callers are answered only after
 * the append is durable. On a conflict (another instance wrote the stream) the account's state is
 * reloaded and its commands decided again; idempotency keys in the state make that safe.
 */
export class CreditAccountWriter {
  private readonly slots = new Map<string, AccountSlot>();
  private readonly dirty = new Set<AccountSlot>();
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private highest: bigint | undefined;
  /** Accounts waiting out a backoff after a conflict, before their commands are decided again. */
  private backingOff = 0;
  private readonly maxCommandsPerFlush: number;
  private readonly maxCachedAccounts: number;
  private readonly maxConflictRetries: number;
  private readonly newEventId: () => string;
  private readonly snapshots: AccountSnapshots | undefined;
  private readonly snapshotEvery: bigint;
  private readonly maxEntriesInMemory: number;
  private readonly snapshotsDue = new Set<AccountSlot>();
  private snapshotsRunning: Promise<void> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    options: WriterOptions = {},
  ) {
    this.maxCommandsPerFlush = options.maxCommandsPerFlush ?? 20_000;
    this.maxCachedAccounts = options.maxCachedAccounts ?? 100_000;
    this.maxConflictRetries = options.maxConflictRetries ?? 30;
    this.newEventId = options.newEventId ?? randomUUID;
    this.snapshots = options.snapshots;
    this.snapshotEvery = BigInt(options.snapshotEvery ?? 2_500);
    this.maxEntriesInMemory = options.maxEntriesInMemory ?? 100_000;
  }

  /**
   * Decides and durably records a command; resolves with the caller's answer or rejects with a refusal.
   * `admit` is a policy about the caller (say, who may back-date a command) checked at decision time;
   * it is skipped for a retry of a known idempotency key, which gets its original answer whatever.
   */
  execute(command: SubmittedCommand, context: CommandContext, admit?: Admission): Promise<Execution> {
    const causationId = idempotencyKeyOf(command as CreditAccountCommand);
    return this.enqueue(command.accountId, (state, now, slot) => {
      if (slot.entriesElsewhere) this.fetchEntries(slot, state, command as CreditAccountCommand);
      const known = state.idempotency.has(causationId);
      if (!known && admit) {
        const refusal = admit(now);
        if (refusal) return { ok: false, error: refusal, events: [] };
      }
      const decided = {
        ...command,
        occurredAt: command.occurredAt ?? Math.max(now, state.latestEventAt ?? now),
      } as CreditAccountCommand;
      const decision = decide(decided, state);
      const events = decision.events.map((event) => {
        evolve(state, event);
        return encodeEvent(event, this.newEventId(), causationId, context);
      });
      if (decision.refusal) return { ok: false, error: decision.refusal, events };
      const execution: Execution = { answer: answer(decided, state, decision.events), replayed: known && events.length === 0 };
      return { ok: true, value: execution, events };
    }, causationId) as Promise<Execution>;
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
    while (this.flushing || this.dirty.size > 0 || this.backingOff > 0) {
      if (this.flushing) await this.flushing;
      else if (this.dirty.size > 0) await this.flush();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Snapshots already due are finished: the next start then folds fewer events.
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

  private enqueue(accountId: string, run: Job['run'], key?: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('The ledger is shutting down'));
    return new Promise((resolve, reject) => {
      const slot = this.slotOf(accountId);
      slot.queue.push({ run, resolve, reject, attempts: 0, key });
      this.dirty.add(slot);
      this.scheduleFlush();
    });
  }

  private slotOf(accountId: string): AccountSlot {
    let slot = this.slots.get(accountId);
    if (slot) {
      // Map order is recency order: move the account to the young end.
      this.slots.delete(accountId);
    } else {
      slot = {
        accountId,
        streamId: creditAccountStream(accountId),
        state: undefined,
        revision: 'no_stream',
        lastPosition: undefined,
        queue: [],
        busy: false,
        lastEventId: undefined,
        snapshotRevision: undefined,
        entriesElsewhere: false,
        unsaved: [],
        snapshotting: false,
      };
    }
    this.slots.set(accountId, slot);
    return slot;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.groupCommit().finally(() => {
      this.flushing = undefined;
      this.evictIdle();
      if (this.dirty.size > 0) this.scheduleFlush();
    });
    return this.flushing;
  }

  private async groupCommit(): Promise<void> {
    const slots = this.takeDirty();
    await Promise.all(slots.filter((slot) => !slot.state).map((slot) => this.load(slot)));

    const batches: Batch[] = [];
    let budget = this.maxCommandsPerFlush;
    for (const slot of slots) {
      if (budget <= 0 || !slot.state) {
        if (slot.queue.length > 0) this.dirty.add(slot);
        continue;
      }
      const jobs = slot.queue.splice(0, budget);
      budget -= jobs.length;
      if (slot.queue.length > 0) this.dirty.add(slot);
      batches.push(this.decideBatch(slot, jobs));
    }

    const writing = batches.filter((batch) => batch.events.length > 0);
    const requests: AppendRequest[] = writing.map((batch) => ({
      streamId: batch.slot.streamId,
      expectedRevision: batch.slot.revision,
      events: batch.events,
    }));
    let outcomes: AppendOutcome[];
    try {
      outcomes = requests.length > 0 ? await this.store.appendMany(requests) : [];
    } catch (error) {
      // Whether anything was written is unknown: forget the tentative states; callers retry by key.
      for (const batch of writing) {
        batch.slot.state = undefined;
        for (const job of batch.jobs) job.reject(error);
      }
      for (const batch of batches) if (batch.events.length === 0) this.settle(batch);
      this.release(batches);
      return;
    }

    const outcomeOf = new Map<Batch, AppendOutcome>();
    writing.forEach((batch, i) => outcomeOf.set(batch, outcomes[i]!));
    for (const batch of batches) {
      const outcome = outcomeOf.get(batch);
      if (!outcome || outcome.ok) {
        if (outcome?.ok) {
          batch.slot.revision = outcome.nextExpectedRevision;
          batch.slot.lastEventId = batch.events[batch.events.length - 1]!.id;
          batch.slot.lastPosition = outcome.position.commit;
          if (this.snapshots) {
            batch.jobs.forEach((job, i) => {
              if (job.key !== undefined && batch.outcomes[i]!.events.length > 0) batch.slot.unsaved.push(job.key);
            });
            this.considerSnapshot(batch.slot);
          }
          if (this.highest === undefined || outcome.position.commit > this.highest) this.highest = outcome.position.commit;
        }
        this.settle(batch);
      } else {
        this.retryAfterConflict(batch);
      }
    }
    this.release(batches);
  }

  private takeDirty(): AccountSlot[] {
    const slots = [...this.dirty];
    this.dirty.clear();
    for (const slot of slots) slot.busy = true;
    return slots;
  }

  private release(batches: readonly Batch[]): void {
    for (const batch of batches) batch.slot.busy = false;
  }

  private decideBatch(slot: AccountSlot, jobs: Job[]): Batch {
    const batch: Batch = { slot, jobs, outcomes: [], events: [] };
    const state = slot.state!;
    try {
      for (const job of jobs) {
        const outcome = job.run(state, this.clock.now(), slot);
        batch.outcomes.push(outcome);
        batch.events.push(...outcome.events);
      }
    } catch (error) {
      // A decision or evolution threw: a bug, not a refusal. The state may be half-applied; drop it.
      slot.state = undefined;
      for (const job of jobs) job.reject(error);
      return { slot, jobs: [], outcomes: [], events: [] };
    }
    return batch;
  }

  private settle(batch: Batch): void {
    batch.jobs.forEach((job, i) => {
      const outcome = batch.outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  private retryAfterConflict(batch: Batch): void {
    const { slot } = batch;
    // The tentative events were applied to the cached state: it must be rebuilt from the store.
    slot.state = undefined;
    const retry: Job[] = [];
    for (const job of batch.jobs) {
      job.attempts += 1;
      if (job.attempts > this.maxConflictRetries) job.reject(new ConcurrencyRetriesExhaustedError(slot.accountId));
      else retry.push(job);
    }
    slot.queue.unshift(...retry);
    if (retry.length === 0) return;
    // Two instances racing for one account would collide again at once: wait a random, growing moment.
    const attempts = Math.max(...retry.map((job) => job.attempts));
    const delay = Math.random() * Math.min(50, 2 ** attempts);
    this.backingOff += 1;
    setTimeout(() => {
      this.backingOff -= 1;
      this.dirty.add(slot);
      this.scheduleFlush();
    }, delay);
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
    let lastEventId = slot.lastEventId;
    let folded = 0n;
    try {
      const events = this.store.readStream(slot.streamId, from === undefined ? {} : { fromRevision: from + 1n });
      for await (const recorded of events) {
        evolve(state, decodeEvent(recorded));
        revision = recorded.revision;
        lastEventId = recorded.id;
        folded += 1n;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    slot.state = state;
    slot.revision = revision;
    slot.lastEventId = lastEventId;
    // What the fold put in memory is everything the snapshot store may lack.
    slot.unsaved = [...state.idempotency.keys()];
    if (from === undefined) {
      slot.entriesElsewhere = false;
      slot.snapshotRevision = undefined;
    }
    // A long fold is worth not doing again.
    if (folded >= this.snapshotEvery) this.considerSnapshot(slot);
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
        slot.lastEventId = recorded.id;
        slot.snapshotRevision = stored.revision;
        slot.entriesElsewhere = true;
        await this.loadFrom(slot, stateFromSnapshot(stored.snapshot), stored.revision);
        return true;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return false;
  }

  /** Brings into memory the idempotency entries a command reads that only the snapshot store holds. */
  private fetchEntries(slot: AccountSlot, state: CreditAccountState, command: CreditAccountCommand): void {
    for (const key of idempotencyKeysRead(command)) {
      if (state.idempotency.has(key)) continue;
      const entry = this.snapshots!.findEntry(slot.accountId, key);
      if (entry) state.idempotency.set(key, entry);
    }
  }

  private snapshotIsDue(slot: AccountSlot): boolean {
    return typeof slot.revision === 'bigint' && slot.revision - (slot.snapshotRevision ?? -1n) >= this.snapshotEvery;
  }

  private considerSnapshot(slot: AccountSlot): void {
    if (!this.snapshots || slot.snapshotting || !this.snapshotIsDue(slot)) return;
    this.snapshotsDue.add(slot);
    this.snapshotsRunning ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.takeSnapshots())
      .finally(() => {
        this.snapshotsRunning = undefined;
      });
  }

  /**
   * Snapshots run beside the write path, between group commits: the state is captured synchronously
   * when no append of the account is in flight (so it holds exactly the stored events), then its
   * idempotency entries are written in slices, each its own transaction, so commands keep flowing; the
   * snapshot row goes last. Once it is stored, the entries it covers leave memory: lookups by key find
   * them, which keeps a hot account's memory bounded by the events since its last snapshot.
   */
  private async takeSnapshots(): Promise<void> {
    const snapshots = this.snapshots!;
    while (this.snapshotsDue.size > 0) {
      const slot: AccountSlot = this.snapshotsDue.values().next().value!;
      this.snapshotsDue.delete(slot);
      const state = slot.state;
      if (!state || slot.snapshotting || !this.snapshotIsDue(slot) || slot.lastEventId === undefined) continue;
      if (slot.busy) {
        // An append is in flight, or the slot waits for the next group commit: the state may hold events
        // that are not stored yet. Try again after that commit (or a turn of the event loop).
        await (this.flushing ?? new Promise((resolve) => setImmediate(resolve)));
        this.snapshotsDue.add(slot);
        continue;
      }
      slot.snapshotting = true;
      const keys = slot.unsaved;
      slot.unsaved = [];
      try {
        const revision = slot.revision as bigint;
        const eventId = slot.lastEventId;
        const captured: [string, IdempotencyEntry][] = [];
        for (const key of new Set(keys)) {
          const entry = state.idempotency.get(key);
          if (entry) captured.push([key, entry]);
        }
        // Serialized now: entries change as later events are applied (a webhook refused, then charged),
        // and so do lots and windows.
        const encoded = captured.map(([key, entry]) => [key, JSON.stringify(entry)] as const);
        const snapshot = JSON.stringify(snapshotOf(state));
        for (let i = 0; i < encoded.length; i += SNAPSHOT_SLICE) {
          if (i > 0) await new Promise((resolve) => setImmediate(resolve));
          await snapshots.saveEntries(slot.accountId, revision, encoded.slice(i, i + SNAPSHOT_SLICE));
        }
        await snapshots.saveSnapshot(slot.accountId, { revision, eventId, state: snapshot });
        if (slot.state === state) {
          slot.snapshotRevision = revision;
          if (state.idempotency.size > this.maxEntriesInMemory) {
            slot.entriesElsewhere = true;
            // Only entries no event changed since this snapshot are in the store as they are now.
            const changed = new Set(slot.unsaved);
            for (const key of state.idempotency.keys()) if (!changed.has(key)) state.idempotency.delete(key);
          }
        }
      } catch {
        // Snapshots are an optimisation: a failed one leaves the account to be folded from its events;
        // the entries it did not store are still to be stored by the next.
        if (slot.state === state) slot.unsaved = [...keys, ...slot.unsaved];
      } finally {
        slot.snapshotting = false;
      }
    }
  }

  private evictIdle(): void {
    if (this.slots.size <= this.maxCachedAccounts) return;
    for (const [accountId, slot] of this.slots) {
      if (this.slots.size <= this.maxCachedAccounts) break;
      if (!slot.busy && slot.queue.length === 0 && !this.dirty.has(slot)) this.slots.delete(accountId);
    }
  }
}
