import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compiledWorkerScript } from '../worker-script.js';

/** What the checkpoint thread is started with (its `workerData`). */
export interface CheckpointThreadSettings {
  readonly filePath: string;
  readonly busyTimeoutMs: number;
  /** The store's `CommitSignal`: a checkpoint runs only when it moved. */
  readonly commitSignal: Int32Array;
  /** How long the thread lets frames gather in the WAL before it copies them to the database file. */
  readonly intervalMs: number;
}

/**
 * A store's side of its checkpoint thread (`sqlite-checkpoint.worker.ts`). The thread never keeps the
 * process alive, and nothing waits for it: if it dies, checkpoints fall back on the append thread's
 * connection (its WAL bound), and nothing else notices.
 */
export class SqliteCheckpointThread {
  private constructor(
    private readonly worker: Worker,
    private readonly exited: Promise<void>,
  ) {}

  /** Throws when the thread's compiled module cannot be found, as the append thread does. */
  static start(settings: CheckpointThreadSettings): SqliteCheckpointThread {
    const script = compiledWorkerScript(import.meta.url, 'sqlite-checkpoint.worker');
    if (script === undefined) {
      throw new Error(
        `The checkpoint thread's module sqlite-checkpoint.worker.js is neither beside ${fileURLToPath(import.meta.url)} ` +
          'nor in dist/: build the project (npm run build)',
      );
    }
    const worker = new Worker(script, { workerData: settings });
    worker.unref();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // An error ends the thread (and is followed by 'exit'); without a listener it would end the process.
    worker.on('error', () => undefined);
    return new SqliteCheckpointThread(worker, exited);
  }

  /** Ends the thread, after the checkpoint it may be running, and closes its connection. */
  async stop(): Promise<void> {
    // Referenced again so that the process waits for the thread's exit.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
