import { Inject, Injectable, Logger, type OnApplicationBootstrap, type Provider } from '@nestjs/common';
import { EVENT_STORE, sharedWithThreads, SqliteEventStore, type EventStore } from '#event-store';
import {
  LEDGER_PROJECTIONS,
  PROJECTION_ENGINE,
  ProjectionEngine,
  ProjectionThread,
  projectedPosition,
  projectionThreadScript,
  READ_MODELS,
  SqliteReadModelStore,
  type ProjectionFollower,
} from '#ledger';
import { MeteredEventStore } from '../observability/metered-event-store.js';
import { ReadConsistency } from './read-consistency.js';

@Injectable()
class ProjectionsStarter implements OnApplicationBootstrap {
  constructor(@Inject(PROJECTION_ENGINE) private readonly engine: ProjectionFollower) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.engine.start();
  }
}

/**
 * The projections follow the store in a thread of their own when they can: the store is the embedded
 * one on a file (the thread opens it too), and the thread's compiled module exists. Otherwise (an
 * EventStoreDB connection, an in-memory file, threads turned off) the engine runs in this thread.
 */
export function readModelProviders(readModelsFile: string, workerThreads: boolean): Provider[] {
  const logger = new Logger('Projections');
  const onError = (message: string) => logger.warn({ msg: 'projections paused', error: message });
  return [
    { provide: READ_MODELS, useFactory: () => SqliteReadModelStore.open(readModelsFile) },
    {
      provide: PROJECTION_ENGINE,
      useFactory: (store: EventStore, readModels: SqliteReadModelStore): ProjectionFollower => {
        const sqlite = store instanceof MeteredEventStore ? store.inner : store;
        const script = projectionThreadScript();
        if (workerThreads && script && sqlite instanceof SqliteEventStore && sharedWithThreads(sqlite.file) && sharedWithThreads(readModelsFile)) {
          return new ProjectionThread(
            script,
            { eventsFile: sqlite.file, readModelsFile, commitSignal: sqlite.commitSignal, onError },
            projectedPosition(readModels, LEDGER_PROJECTIONS),
          );
        }
        return new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, {
          onError: (error) => onError(error instanceof Error ? error.message : String(error)),
        });
      },
      inject: [EVENT_STORE, READ_MODELS],
    },
    ProjectionsStarter,
    ReadConsistency,
  ];
}
