import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthenticatedRequest } from '../../auth/auth.guard.js';

const CORRELATION_ID = /^[A-Za-z0-9_.:\/+=-]{1,128}$/;

/** The caller's `X-Correlation-Id` when it is a sane token, else a new one; it names the request everywhere. */
export function correlationIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-correlation-id'];
  return typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
}

/** The request's correlation id, chosen once when it arrived (see the HTTP adapter's `genReqId`). */
export function correlationIdOf(request: AuthenticatedRequest): string {
  return request.id;
}
