import type { Clock } from '#ledger';

export const RATE_LIMITER = Symbol('RATE_LIMITER');

export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Whole seconds until the quota is renewed (at least 1 when refused). */
  readonly resetSeconds: number;
}

/**
 * A quota of requests per token per fixed window, as the RateLimit header fields describe it
 * (draft-ietf-httpapi-ratelimit-headers): `q` requests every `w` seconds. A window starts at a
 * multiple of `w` on the clock, so every instance of the app agrees on the windows' edges.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; used: number }>();
  private readonly windowMs: number;

  constructor(
    private readonly clock: Clock,
    readonly windowSeconds: number,
    /** Requests a token may make per window; 0: no limit. */
    private readonly quotaOf: (token: string) => number,
  ) {
    this.windowMs = windowSeconds * 1000;
  }

  /** Counts one request of `token`; undefined when the token has no limit. */
  take(token: string): RateDecision | undefined {
    const limit = this.quotaOf(token);
    if (limit === 0) return undefined;
    const now = this.clock.now();
    const start = now - (now % this.windowMs);
    let window = this.windows.get(token);
    if (!window || window.start !== start) {
      window = { start, used: 0 };
      this.windows.set(token, window);
    }
    const resetSeconds = Math.max(1, Math.ceil((start + this.windowMs - now) / 1000));
    if (window.used >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
    window.used++;
    return { allowed: true, limit, remaining: limit - window.used, resetSeconds };
  }

  /** The header fields of a decision: the policy, and what is left of it now. */
  static headers(decision: RateDecision, windowSeconds: number): Record<string, string> {
    return {
      'ratelimit-policy': `"per-token";q=${decision.limit};w=${windowSeconds}`,
      ratelimit: `"per-token";r=${decision.remaining};t=${decision.resetSeconds}`,
    };
  }
}
