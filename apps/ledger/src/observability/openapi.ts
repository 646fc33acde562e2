import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';

/** Routes that need no token; every other operation needs a bearer token with the scope it names. */
const PUBLIC_PATHS = ['/health', '/ready', '/metrics', '/usage-page/{accountId}'];

const PROBLEM_RESPONSES: Record<string, string> = {
  '400': 'Invalid request: Problem Details with the offending fields',
  '401': 'No token, or an unknown one',
  '403': 'The token lacks the scope this route needs',
  '429': 'Too many requests for this token: see the RateLimit and Retry-After header fields',
  '503': 'The event store is unavailable: retry with the same idempotency key (Retry-After)',
};

/**
 * The OpenAPI document, generated at start-up from the controllers (routes, parameters) and from the
 * DTOs' class-validator rules (request bodies: types, patterns, bounds, required fields), so it can
 * never drift from what the ledger validates.
 */
export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Credit ledger')
    .setDescription(
      'Event-sourced prepaid credit ledger. Errors are RFC 9457 application/problem+json with a stable `code`. ' +
        'Every command carries its idempotency key; a retry with the same key and payload answers the original result.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A service token; each route needs one scope' }, 'bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config);

  const fromValidators = validationMetadatasToSchemas({ refPointerPrefix: '#/components/schemas/' });
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, ...(fromValidators as NonNullable<typeof document.components.schemas>) };
  document.components.schemas.Problem = {
    type: 'object',
    required: ['type', 'title', 'status', 'code'],
    properties: {
      type: { type: 'string', format: 'uri-reference' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string', description: 'Stable machine-readable code, e.g. CREDITS_INSUFFICIENT' },
      instance: { type: 'string' },
    },
    additionalProperties: true,
  };

  for (const [path, item] of Object.entries(document.paths)) {
    for (const operation of [item.get, item.post, item.put, item.delete, item.patch]) {
      if (!operation) continue;
      if (PUBLIC_PATHS.includes(path)) {
        operation.security = [];
        continue;
      }
      operation.security = [{ bearer: [] }];
      for (const [status, description] of Object.entries(PROBLEM_RESPONSES)) {
        operation.responses[status] ??= {
          description,
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        };
      }
    }
  }
  return document;
}

const UI_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/** A page that loads the Swagger UI assets below and points them at the document. */
const UI_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Credit ledger API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/ui.js"></script></body>
</html>`;
const UI_SCRIPT = `window.ui = SwaggerUIBundle({ url: '/docs/json', dom_id: '#ui', deepLinking: true });`;

/**
 * Serves the document at /docs/json and the Swagger UI at /docs, from files read once at start-up
 * (public routes: the document holds no secret, and every route it describes still checks its token).
 */
export function serveOpenApi(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  const document = JSON.stringify(buildOpenApiDocument(app));
  const uiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const assets = Object.entries(UI_ASSETS).map(([file, type]) => ({ file, type, body: readFileSync(join(uiDir, file)) }));

  fastify.get('/docs/json', (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
  fastify.get('/docs', (_request, reply) => reply.type('text/html; charset=utf-8').send(UI_PAGE));
  fastify.get('/docs/ui.js', (_request, reply) => reply.type('text/javascript; charset=utf-8').send(UI_SCRIPT));
  for (const { file, type, body } of assets) {
    fastify.get(`/docs/${file}`, (_request, reply) => reply.type(type).header('cache-control', 'public, max-age=86400').send(body));
  }
}
