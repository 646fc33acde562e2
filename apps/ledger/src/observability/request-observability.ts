import type { FastifyInstance } from 'fastify';
import type { AuthenticatedRequest } from '../auth/auth.guard.js';
import type { LedgerMetrics } from './ledger-metrics.js';

/**
 * Every answer carries the request's correlation id (the one its events and log lines carry), and
 * every request leaves one access-log line and one latency observation under its route's pattern.
 */
export function installRequestObservability(fastify: FastifyInstance, metrics: LedgerMetrics): void {
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('x-correlation-id', request.id);
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, seconds);
    request.log.info(
      {
        method: request.method,
        route,
        url: withoutSignatures(request.url),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        actor: (request as AuthenticatedRequest).principal?.name,
      },
      'request',
    );
  });
}

/**
 * A request's URL as logged: the value of a `sig` query parameter (a signed usage-page link's signature)
 * is left out, since anyone holding the link's URL can open the page until it expires.
 */
export function withoutSignatures(url: string): string {
  const query = url.indexOf('?');
  if (query < 0 || !url.includes('sig=', query)) return url;
  return url.slice(0, query) + url.slice(query).replace(/([?&]sig=)[^&#]*/g, '$1[redacted]');
}
