import { parentPort, workerData } from 'node:worker_threads';
import { CommitSignal, SqliteEventStore, takeBackgroundCpus, yieldToForegroundThreads, type EventStore } from '#event-store';
import { LEDGER_PROJECTIONS } from './index.js';
import { ProjectionEngine } from './projection-engine.js';
import type { ProjectionThreadCommand, ProjectionThreadMessage, ProjectionThreadTask } from './projection-thread.js';
import { SqliteReadModelStore } from './read-model-store.js';

/**
 * The projection engine in a thread of its own, on its own connections to the event store and the
 * read models: the thread that decides commands never folds events into documents.
 */
const task = workerData as ProjectionThreadTask;
// Read models may fall a batch behind while requests and their appends take the CPUs: at 5,000 single
// charges a second the fixed-rate p99 was 19.9 ms on average with this thread lowered, 31.1 without, in six
// alternated pairs (docs/benchmarks.md).
takeBackgroundCpus();
yieldToForegroundThreads();
const { source } = task;
const port = parentPort!;
const post = (message: ProjectionThreadMessage) => port.postMessage(message);

// The EventStoreDB client is loaded only where that store is used.
const store: EventStore =
  source.kind === 'sqlite'
    ? SqliteEventStore.open(source.eventsFile)
    : (await import('#event-store/eventstoredb')).EventStoreDbEventStore.connect(source.connectionString);
const readModels = SqliteReadModelStore.open(task.readModelsFile);
const engine = new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, {
  batchSize: task.batchSize,
  retryDelayMs: task.retryDelayMs,
  readText: true,
  pollIntervalMs: task.pollIntervalMs,
  gatherMs: task.gatherMs,
  patientGatherMs: task.patientGatherMs,
  onError: (error) => post({ kind: 'error', message: error instanceof Error ? error.message : String(error) }),
  onApplied: (position) => post({ kind: 'applied', position }),
});

let stopping = false;

port.on('message', (message: ProjectionThreadCommand) => {
  if (message === 'hurry') {
    engine.hurry();
    return;
  }
  if (message !== 'stop') return;
  stopping = true;
  // Releases the signal's wait, so that nothing keeps the thread alive (the store's other followers, if
  // any, look once for nothing).
  if (source.kind === 'sqlite') CommitSignal.bump(source.commitSignal);
  void (async () => {
    await engine.stop();
    readModels.close();
    await store.close();
    port.close();
  })();
});

engine.start();
// Each commit through the app's store wakes the engine, which otherwise polls (for other processes').
if (source.kind === 'sqlite') void CommitSignal.follow(source.commitSignal, () => engine.wake(), () => stopping);
post({ kind: 'started', position: engine.position() });
