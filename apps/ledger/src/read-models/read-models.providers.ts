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
  type ProjectionSource,
} from '#ledger';
import type { LedgerConfig } from '../config/ledger.config.js';
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
 * The projections follow the store in a thread of their own when they can: the thread opens the store
 * too (the embedded one's file, or a connection to the EventStoreDB), and its compiled module exists.
 * Otherwise (an in-memory file, threads turned off) the engine runs in this thread.
 */
export function readModelProviders(config: Pick<LedgerConfig, 'readModelsFile' | 'workerThreads' | 'store' | 'projectionGatherMs'>): Provider[] {
  const { readModelsFile, workerThreads, store: eventStore, projectionGatherMs } = config;
  const logger = new Logger('Projections');
  const onError = (message: string) => logger.warn({ msg: 'projections paused', error: message });
  return [
    { provide: READ_MODELS, useFactory: () => SqliteReadModelStore.open(readModelsFile) },
    {
      provide: PROJECTION_ENGINE,
      useFactory: (store: EventStore, readModels: SqliteReadModelStore): ProjectionFollower => {
        const sqlite = store instanceof MeteredEventStore ? store.inner : store;
        const script = projectionThreadScript();
        const source: ProjectionSource | undefined =
          eventStore.kind === 'eventstoredb'
            ? { kind: 'eventstoredb', connectionString: eventStore.connectionString }
            : sqlite instanceof SqliteEventStore && sharedWithThreads(sqlite.file)
              ? { kind: 'sqlite', eventsFile: sqlite.file, commitSignal: sqlite.commitSignal }
              : undefined;
        if (workerThreads && script && source && sharedWithThreads(readModelsFile)) {
          return new ProjectionThread(script, { source, readModelsFile, onError, patientGatherMs: projectionGatherMs }, projectedPosition(readModels, LEDGER_PROJECTIONS));
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
