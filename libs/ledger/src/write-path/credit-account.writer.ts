import { randomUUID } from 'node:crypto';
import {
  answer,
  creditAccountStream,
  decide,
  evolve,
  idempotencyKeyOf,
  initialState,
  type CreditAccountAnswer,
  type CreditAccountCommand,
  type CreditAccountState,
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
}

/** A policy check at decision time: an error refuses the command, undefined admits it. */
export type Admission = (now: Instant) => Error | undefined;

export interface Execution {
  readonly answer: CreditAccountAnswer;
  /** The command was a retry of one already recorded: nothing new was written. */
  readonly replayed: boolean;
}

/** Another writer kept winning the race for this account; the command was not applied. */
export class ConcurrencyRetriesExhaustedError extends StoreUnavailableError {
  constructor(readonly accountId: string) {
    super(`Account ${accountId} is being written concurrently by another instance; retry the command`);
    this.name = 'ConcurrencyRetriesExhaustedError';
  }
}

interface Job {
  readonly run: (state: CreditAccountState, now: Instant) => JobOutcome;
  /** What the job wrote into the pending batch, so a conflict can decide it again. */
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  attempts: number;
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

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    options: WriterOptions = {},
  ) {
    this.maxCommandsPerFlush = options.maxCommandsPerFlush ?? 20_000;
    this.maxCachedAccounts = options.maxCachedAccounts ?? 100_000;
    this.maxConflictRetries = options.maxConflictRetries ?? 30;
    this.newEventId = options.newEventId ?? randomUUID;
  }

  /**
   * Decides and durably records a command; resolves with the caller's answer or rejects with a refusal.
   * `admit` is a policy about the caller (say, who may back-date a command) checked at decision time;
   * it is skipped for a retry of a known idempotency key, which gets its original answer whatever.
   */
  execute(command: SubmittedCommand, context: CommandContext, admit?: Admission): Promise<Execution> {
    const causationId = idempotencyKeyOf(command as CreditAccountCommand);
    return this.enqueue(command.accountId, (state, now) => {
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
    }) as Promise<Execution>;
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

  private enqueue(accountId: string, run: Job['run']): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('The ledger is shutting down'));
    return new Promise((resolve, reject) => {
      const slot = this.slotOf(accountId);
      slot.queue.push({ run, resolve, reject, attempts: 0 });
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
          batch.slot.lastPosition = outcome.position.commit;
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
        const outcome = job.run(state, this.clock.now());
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
    const state = initialState();
    let revision: bigint | 'no_stream' = 'no_stream';
    try {
      for await (const recorded of this.store.readStream(slot.streamId)) {
        evolve(state, decodeEvent(recorded));
        revision = recorded.revision;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) {
        const jobs = slot.queue.splice(0);
        for (const job of jobs) job.reject(error);
        return;
      }
    }
    slot.state = state;
    slot.revision = revision;
  }

  private evictIdle(): void {
    if (this.slots.size <= this.maxCachedAccounts) return;
    for (const [accountId, slot] of this.slots) {
      if (this.slots.size <= this.maxCachedAccounts) break;
      if (!slot.busy && slot.queue.length === 0 && !this.dirty.has(slot)) this.slots.delete(accountId);
    }
  }
}
