import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { compiledWorkerScript } from '#event-store';
import type { ProjectionFollower } from './projection-engine.js';
import { PositionWaiters } from './position-waiters.js';

/**
 * The store the thread follows, opened there on its own connection: the embedded store's file, with the
 * `CommitSignal` of the store appending to it in this process (the thread reads on at each commit through
 * it), or an EventStoreDB, whose subscription tells the thread of every append.
 */
export type ProjectionSource =
  | { readonly kind: 'sqlite'; readonly eventsFile: string; readonly commitSignal: Int32Array }
  | { readonly kind: 'eventstoredb'; readonly connectionString: string };

export interface ProjectionThreadTask {
  readonly source: ProjectionSource;
  readonly readModelsFile: string;
  /** How often the thread looks for appends it was not told about (another process's). */
  readonly pollIntervalMs: number;
  readonly batchSize: number;
  /** Once caught up, how long the thread lets commits gather before it reads again (`ProjectionEngineOptions`). */
  readonly gatherMs: number;
  /** The same while nobody waits for a position (`ProjectionEngineOptions.patientGatherMs`). */
  readonly patientGatherMs: number;
  readonly retryDelayMs: number;
}

/** What the app tells the thread: stop, or somebody waits for the events committed so far. */
export type ProjectionThreadCommand = 'stop' | 'hurry';

export type ProjectionThreadMessage =
  | { readonly kind: 'started'; readonly position: bigint }
  | { readonly kind: 'applied'; readonly position: bigint }
  | { readonly kind: 'error'; readonly message: string };

export interface ProjectionThreadOptions {
  readonly source: ProjectionSource;
  readonly readModelsFile: string;
  readonly pollIntervalMs?: number;
  readonly batchSize?: number;
  readonly gatherMs?: number;
  readonly patientGatherMs?: number;
  /** How long to wait before following again after an error, or before restarting a thread that died. */
  readonly retryDelayMs?: number;
  readonly onError?: (message: string) => void;
}

/** How long a stopping thread may take to finish its batch and close its files before it is terminated. */
const STOP_TIMEOUT_MS = 10_000;

/** The compiled module of the thread, or undefined when there is none to run (no build). */
export function projectionThreadScript(): URL | undefined {
  return compiledWorkerScript(import.meta.url, 'projection.worker');
}

/**
 * Runs the projection engine in a worker thread, on its own connection to the event store, so that the
 * thread deciding commands does not also read every event back, decode it and fold it into documents (a
 * third to a half of that thread's time under load). The read models are one SQLite file: the thread
 * writes them, queries here read them through their own connection (WAL lets both happen at once), and
 * the thread reports each position it stores, which is what `waitFor` waits on. With the embedded store,
 * appends through this process are signalled by the store's `commitSignal`, from the thread that commits
 * them, so the thread serving requests does nothing for it; another process's are found by polling. With
 * EventStoreDB the thread's own subscription brings every append.
 */
export class ProjectionThread implements ProjectionFollower {
  private worker: Worker | undefined;
  private reached: bigint;
  private stopping = false;
  private lastError: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new PositionWaiters(() => this.reached);
  /** A hurry was sent and no batch was applied since: one message is enough for any number of waiters. */
  private hurrying = false;
  private readonly task: ProjectionThreadTask;
  private readonly onError: (message: string) => void;

  /** `initialPosition`: what the read models had reached before the thread started (-1n when nothing). */
  constructor(
    private readonly script: URL,
    options: ProjectionThreadOptions,
    initialPosition: bigint,
  ) {
    this.task = {
      source: options.source,
      readModelsFile: options.readModelsFile,
      pollIntervalMs: options.pollIntervalMs ?? 50,
      batchSize: options.batchSize ?? 20_000,
      // Under load, at most one batch every 5 ms: single charges at 3,000-5,000 a second woke the
      // thread 500 times a second, and it spent 30% of a CPU on it; gathered, 20%. A query waiting to
      // read its own write waits at most that much longer, and only while commits keep coming.
      gatherMs: options.gatherMs ?? 5,
      // While no query waits to read its own write, batches gathered up to 100 ms: about a fifth less of
      // that thread's CPU a charge over 10,000 accounts at full load. A query that comes then hurries the
      // thread and waits for the events gathered so far to be applied: at full load on two vCPUs, a
      // median of 160-190 ms against 70-75 with 5 ms batches (200 ms batches: 220-235).
      patientGatherMs: options.patientGatherMs ?? 100,
      retryDelayMs: options.retryDelayMs ?? 500,
    };
    this.onError = options.onError ?? (() => undefined);
    this.reached = initialPosition;
  }

  /** Resolves once the thread follows the store (or has failed to start, which `health` then says). */
  async start(): Promise<void> {
    if (this.worker || this.stopping) return;
    await this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker) {
      const exited = once(worker, 'exit');
      worker.postMessage('stop' satisfies ProjectionThreadCommand);
      const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
      await exited.catch(() => undefined);
      clearTimeout(timer);
    }
    this.waiters.releaseAll();
  }

  position(): bigint {
    return this.reached;
  }

  waitFor(position: bigint, timeoutMs = 2000): Promise<boolean> {
    const waiting = this.waiters.waitFor(position, timeoutMs);
    if (position > this.reached) this.hurry();
    return waiting;
  }

  get health(): { readonly running: boolean; readonly lastError: string | undefined } {
    return { running: this.worker !== undefined && !this.stopping, lastError: this.lastError };
  }

  private spawn(): Promise<void> {
    return new Promise((resolve) => {
      const worker = new Worker(this.script, { workerData: this.task });
      this.worker = worker;
      worker.on('message', (message: ProjectionThreadMessage) => {
        switch (message.kind) {
          case 'started':
            this.advance(message.position);
            resolve();
            break;
          case 'applied':
            this.lastError = undefined;
            this.advance(message.position);
            break;
          case 'error':
            this.fail(message.message);
            break;
          default: {
            const unknown: never = message;
            throw new Error(`Unknown message from the projection thread: ${JSON.stringify(unknown)}`);
          }
        }
      });
      worker.on('error', (error) => this.fail(`projection thread failed: ${error.message}`));
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        resolve();
        if (this.stopping) return;
        this.fail(`projection thread exited (code ${code}); restarting`);
        this.restartTimer = setTimeout(() => void this.spawn(), this.task.retryDelayMs);
      });
    });
  }

  private advance(position: bigint): void {
    this.reached = position;
    this.waiters.notify();
    this.hurrying = false;
    // Those still waiting wait for events the thread had not read when it began this batch.
    if (this.waiters.waiting) this.hurry();
  }

  private hurry(): void {
    if (this.hurrying || !this.worker) return;
    this.hurrying = true;
    this.worker.postMessage('hurry' satisfies ProjectionThreadCommand);
  }

  private fail(message: string): void {
    this.lastError = message;
    this.onError(message);
  }
}
