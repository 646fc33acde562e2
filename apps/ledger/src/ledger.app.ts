import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '#ledger';
import type { EventStore } from '#event-store';
import { loadOrCreateAdminToken } from './auth/api-token.registry.js';
import type { ApiTokenConfig } from './auth/scopes.js';
import type { LedgerConfig } from './config/ledger.config.js';
import { LedgerModule } from './ledger.module.js';
import { Problem } from './problems/problem.js';
import { sendProblem } from './problems/problem-details.filter.js';

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
  installBodyGuards(app.getHttpAdapter().getInstance() as unknown as FastifyInstance);
  await app.init();
  return app;
}

/**
 * Commands are JSON objects. Other media types are refused before parsing (415), and a body that parses
 * to something other than an object (an array, a number, null) is refused before validation (400).
 */
function installBodyGuards(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST') return;
    const type = request.headers['content-type'];
    if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type)) {
      sendProblem(reply, request, new Problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send application/json', `Content-Type must be application/json (got ${type ?? 'none'})`));
      return reply;
    }
  });
  fastify.addHook('preValidation', async (request, reply) => {
    if (request.method !== 'POST') return;
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      sendProblem(reply, request, new Problem(400, 'MALFORMED_JSON', 'The body must be a JSON object', 'The body must be a JSON object'));
      return reply;
    }
  });
}
