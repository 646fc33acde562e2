import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from '#ledger';
import type { EventStore } from '#event-store';
import { loadOrCreateAdminToken } from './auth/api-token.registry.js';
import type { ApiTokenConfig } from './auth/scopes.js';
import type { LedgerConfig } from './config/ledger.config.js';
import { correlationIdFrom } from './credit-accounts/shared/request-context.js';
import { LedgerModule } from './ledger.module.js';
import { createLedgerLog, NestLogAdapter, type LogLevel } from './observability/ledger-log.js';
import { LedgerMetrics } from './observability/ledger-metrics.js';
import { installHttpDrain } from './observability/http-drain.js';
import { serveOpenApi } from './observability/openapi.js';
import { installRequestObservability } from './observability/request-observability.js';
import { answerClientError } from './problems/client-error.js';
import { Problem } from './problems/problem.js';
import { sendProblem } from './problems/problem-details.filter.js';

export interface LedgerAppOptions {
  readonly clock?: Clock;
  readonly store?: EventStore;
  /** Where the JSON log goes; by default standard output at the configured level. */
  readonly log?: Logger;
  /** Overrides the configured level of the default log (tests use 'silent'). */
  readonly logLevel?: LogLevel;
  /** Told where the generated admin token is, when none is configured. */
  readonly onGeneratedToken?: (file: string, created: boolean) => void;
}

/** How long a stop waits for requests in flight before closing their connections. */
const SHUTDOWN_DEADLINE_MS = 10_000;

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

  const log = options.log ?? createLedgerLog(options.logLevel ?? config.logLevel);
  const metrics = new LedgerMetrics();
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    trustProxy: false,
    loggerInstance: log,
    // One access-log line per request is written by the observability hooks instead of two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    genReqId: (request: IncomingMessage) => correlationIdFrom(request.headers),
    clientErrorHandler: answerClientError,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    LedgerModule.register({
      config,
      apiTokens,
      metrics,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.store ? { store: options.store } : {}),
    }),
    adapter,
    { logger: new NestLogAdapter(log), bufferLogs: false },
  );
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  installRequestObservability(fastify, metrics);
  installHttpDrain(fastify, SHUTDOWN_DEADLINE_MS);
  installBodyGuards(fastify);
  serveOpenApi(app);
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
