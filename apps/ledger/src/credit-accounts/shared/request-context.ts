import { randomUUID } from 'node:crypto';
import type { AuthenticatedRequest } from '../../auth/auth.guard.js';

const CORRELATION_ID = /^[A-Za-z0-9_.:\/+=-]{1,128}$/;

export function correlationIdOf(request: AuthenticatedRequest): string {
  const given = request.headers['x-correlation-id'];
  return typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
}

