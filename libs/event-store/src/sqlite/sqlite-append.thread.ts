import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreUnavailableError, type AppendOutcome } from '../event-store.port.js';
import { compiledWorkerScript } from '../worker-script.js';
import type { PreparedAppend } from './sqlite-append.js';
import {
  postAppends,
  type AppendHeads,
  receiveError,
  receiveOutcomes,
  type AppendThreadReply,
  type AppendThreadRequest,
  type AppendThreadSettings,
} from './sqlite-append.protocol.js';

interface OutstandingAppend {
  /**
   * Kept for the outcomes, which come back without what the caller already knows: only the streams and
   * expected revisions, not the events. Their JSON, held until the reply, outlived a collection of the
   * young generation and was copied, and promoted, with every append in flight.
   */
  readonly heads: AppendHeads;
  readonly answered: Promise<unknown>;
  readonly resolve: (outcomes: AppendOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

interface RunningThread {
  readonly worker: Worker;
  readonly exited: Promise<void>;
  /** Why it is going away, when it says so before it exits. */
  failure?: string;
}

/**
 * A store's side of its append thread (`sqlite-append.worker.ts`): posts prepared appends to it, in
 * order, and settles each with the thread's reply. Several appends may be outstanding; the thread runs
 * them in order, those that waited while it was busy in one transaction (each with its own outcomes).
 *
 * If the thread dies, every outstanding append fails with `StoreUnavailableError`: the thread may have
 * committed it or not, and the caller finds out by retrying it (appends are idempotent by event id). The
 * next append starts a new thread.
 */
export class SqliteAppendThread {
  private running: RunningThread | undefined;
  private readonly outstanding = new Map<number, OutstandingAppend>();
  private nextId = 0;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly script: URL,
    private readonly settings: AppendThreadSettings,
  ) {}

  /** Throws when the thread's compiled module cannot be found: there is no quiet fallback to this thread. */
  static start(settings: AppendThreadSettings): SqliteAppendThread {
    const script = compiledWorkerScript(import.meta.url, 'sqlite-append.worker');
    if (script === undefined) {
      throw new Error(
        `The append thread's module sqlite-append.worker.js is neither beside ${fileURLToPath(import.meta.url)} ` +
          'nor in dist/: build the project (npm run build) to append in a thread',
      );
    }
    const thread = new SqliteAppendThread(script, settings);
    // Started now so the first append does not wait for the thread to load.
    thread.spawn();
    return thread;
  }

  /** The outcomes of `appends`, all or none stored; rejects with the thread's error when it failed. */
  append(appends: readonly PreparedAppend[], created: number): Promise<AppendOutcome[]> {
    if (this.stopping !== undefined) {
      return Promise.reject(new StoreUnavailableError(`The append thread of ${this.settings.filePath} is stopped`));
    }
    const { worker } = this.running ?? this.spawn();
    const id = this.nextId++;
    const posted = postAppends(appends);
    worker.postMessage({ kind: 'append', id, appends: posted, created } satisfies AppendThreadRequest);
    // An idle thread must not keep the process alive (a store without one does not); a busy one must.
    if (this.outstanding.size === 0) worker.ref();
    let resolve!: OutstandingAppend['resolve'];
    let reject!: OutstandingAppend['reject'];
    const answered = new Promise<AppendOutcome[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.outstanding.set(id, { heads: { streamIds: posted.streamIds, expectedRevisions: posted.expectedRevisions }, answered, resolve, reject });
    return answered;
  }

  /** Waits for the outstanding appends to be answered, then closes the thread's connection and ends it. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.outstanding.values()].map((append) => append.answered));
      const running = this.running;
      if (running === undefined) return;
      // From here its exit is expected, not a failure.
      this.running = undefined;
      running.worker.ref();
      running.worker.postMessage({ kind: 'stop' } satisfies AppendThreadRequest);
      await running.exited;
    })();
    return this.stopping;
  }

  private spawn(): RunningThread {
    const worker = new Worker(this.script, { workerData: this.settings });
    worker.unref();
    const running: RunningThread = {
      worker,
      exited: new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    };
    worker.on('message', (reply: AppendThreadReply) => this.receive(reply));
    // 'exit' always follows 'error', after the replies the thread posted before it failed have been
    // delivered: outstanding appends are failed there, so that none that was answered is failed.
    worker.on('error', (error) => (running.failure = `failed: ${error.message}`));
    worker.on('messageerror', (error) => {
      running.failure = `sent a reply that could not be read: ${error.message}`;
      void worker.terminate();
    });
    worker.once('exit', (code) => this.lose(running, running.failure ?? `exited with code ${code}`));
    this.running = running;
    return running;
  }

  private receive(reply: AppendThreadReply): void {
    const append = this.outstanding.get(reply.id);
    if (append === undefined) throw new Error(`The append thread answered request ${reply.id}, which is not outstanding`);
    this.outstanding.delete(reply.id);
    if (this.outstanding.size === 0) this.running?.worker.unref();
    switch (reply.kind) {
      case 'appended':
        append.resolve(receiveOutcomes(reply.outcomes, append.heads));
        return;
      case 'failed':
        append.reject(receiveError(reply.error));
        return;
      default: {
        const unknown: never = reply;
        throw new Error(`Unknown reply from the append thread: ${String((unknown as { kind?: unknown }).kind)}`);
      }
    }
  }

  private lose(running: RunningThread, reason: string): void {
    if (this.running !== running) return;
    this.running = undefined;
    for (const append of this.outstanding.values()) {
      append.reject(
        new StoreUnavailableError(
          `The append thread of SQLite event store ${this.settings.filePath} ${reason}; ` +
            'whether this append was written is unknown',
        ),
      );
    }
    this.outstanding.clear();
  }
}
