import { Inject, Injectable, Logger, type OnApplicationBootstrap, type Provider } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '#event-store';
import { LEDGER_PROJECTIONS, PROJECTION_ENGINE, ProjectionEngine, READ_MODELS, SqliteReadModelStore } from '#ledger';
import { ReadConsistency } from './read-consistency.js';

@Injectable()
class ProjectionsStarter implements OnApplicationBootstrap {
  constructor(@Inject(PROJECTION_ENGINE) private readonly engine: ProjectionEngine) {}

  onApplicationBootstrap(): void {
    this.engine.start();
  }
}

export function readModelProviders(readModelsFile: string): Provider[] {
  const logger = new Logger('Projections');
  return [
    { provide: READ_MODELS, useFactory: () => SqliteReadModelStore.open(readModelsFile) },
    {
      provide: PROJECTION_ENGINE,
      useFactory: (store: EventStore, readModels: SqliteReadModelStore) =>
        new ProjectionEngine(store, readModels, LEDGER_PROJECTIONS, {
          onError: (error) =>
            logger.warn({ msg: 'projections paused', error: error instanceof Error ? error.message : String(error) }),
        }),
      inject: [EVENT_STORE, READ_MODELS],
    },
    ProjectionsStarter,
    ReadConsistency,
  ];
}
