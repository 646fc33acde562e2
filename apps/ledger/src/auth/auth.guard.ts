import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Problem } from '../problems/problem.js';
import { LEDGER_METRICS, type LedgerMetrics } from '../observability/ledger-metrics.js';
import { API_TOKEN_REGISTRY, type ApiTokenRegistry } from './api-token.registry.js';
import { RATE_LIMITER, RateLimiter } from './rate-limiter.js';
import type { Principal, Scope } from './scopes.js';

const REQUIRED_SCOPE = 'ledger:required-scope';
const PUBLIC_ROUTE = 'ledger:public-route';

/** The scope a route needs. Every route names one, or is marked public. */
export const RequireScope = (scope: Scope) => SetMetadata(REQUIRED_SCOPE, scope);
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);

export type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(API_TOKEN_REGISTRY) private readonly tokens: ApiTokenRegistry,
    @Inject(RATE_LIMITER) private readonly limiter: RateLimiter,
    @Inject(LEDGER_METRICS) private readonly metrics: LedgerMetrics,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const scope = this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, targets);
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();

    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/i.exec(header.trim()) : null;
    const principal = match ? this.tokens.authenticate(match[1]!) : undefined;
    if (!principal) {
      throw new Problem(
        401,
        'UNAUTHENTICATED',
        'Authentication required',
        match ? 'The bearer token is not known' : 'Send "Authorization: Bearer <token>"',
        {},
        { 'www-authenticate': 'Bearer realm="credit-ledger"' },
      );
    }
    // A route that forgot its scope is closed, not open.
    if (!scope || !principal.scopes.has(scope)) {
      throw new Problem(403, 'SCOPE_MISSING', 'Not allowed', `This route needs the scope ${scope ?? '(none declared)'}`, {
        requiredScope: scope ?? null,
      });
    }
    // Counted once the caller is known, before the body is validated or anything is decided.
    const decision = this.limiter.take(principal.name);
    if (decision) {
      const headers = RateLimiter.headers(decision, this.limiter.windowSeconds);
      if (!decision.allowed) {
        this.metrics.rateLimited.inc({ token: principal.name });
        throw new Problem(429, 'RATE_LIMITED', 'Too many requests', `This token may make ${decision.limit} requests every ${this.limiter.windowSeconds} s`, {}, {
          ...headers,
          'retry-after': String(decision.resetSeconds),
        });
      }
      void context.switchToHttp().getResponse<FastifyReply>().headers(headers);
    }
    request.principal = principal;
    return true;
  }
}

export function principalOf(request: AuthenticatedRequest): Principal {
  if (!request.principal) throw new Error('principalOf: the route is not behind AuthGuard');
  return request.principal;
}
