import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Clock } from '#ledger';
import type { EventStore } from '#event-store';
import { loadOrCreateAdminToken } from './auth/api-token.registry.js';
import type { ApiTokenConfig } from './auth/scopes.js';
import type { LedgerConfig } from './config/ledger.config.js';
import { LedgerModule } from './ledger.module.js';
import { sendProblem, toProblem } from './problems/problem-details.filter.js';

export interface LedgerAppOptions {
  readonly clock?: Clock;
  readonly store?: EventStore;
  readonly logger?: false | ('error' | 'warn' | 'log')[];
  /** Told where the generated admin token is, when none is configured. */
  readonly onGeneratedToken?: (file: string, created: boolean) => void;
}

/** Builds the ledger's HTTP application (not yet listening) from validated configuration. */
export async function createLedgerApp(config: LedgerConfig, options: LedgerAppOptions = {}): Promise<NestFastifyApplication> {
  mkdirSync(config.dataDir, { recursive: true });
  let apiTokens: readonly ApiTokenConfig[];
  if (config.apiTokens) {
    apiTokens = config.apiTokens;
  } else {
    const generated = loadOrCreateAdminToken(config.dataDir);
    options.onGeneratedToken?.(generated.file, generated.created);
    apiTokens = [generated.token];
  }

  const adapter = new FastifyAdapter({ bodyLimit: config.bodyLimitBytes, trustProxy: false });
  const app = await NestFactory.create<NestFastifyApplication>(
    LedgerModule.register({ config, apiTokens, ...(options.clock ? { clock: options.clock } : {}), ...(options.store ? { store: options.store } : {}) }),
    adapter,
    { logger: options.logger ?? ['error', 'warn'], bufferLogs: false },
  );
  installFrameworkProblemHandlers(app.getHttpAdapter().getInstance() as unknown as FastifyInstance);
  await app.init();
  return app;
}

/**
 * Errors raised before Nest sees a request (body parsing, size limits) are Problems too. Unknown routes
 * reach Nest as NotFoundException, which the Problem Details filter answers.
 */
function installFrameworkProblemHandlers(fastify: FastifyInstance): void {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    sendProblem(reply, request, toProblem(error));
  });
}
