import { RateLimiter } from './rate-limiter.js';

describe('the per-token rate limiter', () => {
  let now = 1_700_000_000_250;
  const clock = { now: () => now };

  it('lets a token use its quota in a window, then refuses until the window ends', () => {
    const limiter = new RateLimiter(clock, 1, () => 3);
    expect([1, 2, 3].map(() => limiter.take('gateway')!.remaining)).toEqual([2, 1, 0]);
    const refused = limiter.take('gateway')!;
    expect(refused).toEqual({ allowed: false, limit: 3, remaining: 0, resetSeconds: 1 });
    expect(RateLimiter.headers(refused, 1)).toEqual({ 'ratelimit-policy': '"per-token";q=3;w=1', ratelimit: '"per-token";r=0;t=1' });
    now += 750; // the next window
    expect(limiter.take('gateway')).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('does not count a token whose quota is 0 (no limit)', () => {
    const limiter = new RateLimiter(clock, 1, () => 0);
    expect(limiter.take('gateway')).toBeUndefined();
  });

  it('keeps one quota per token', () => {
    const limiter = new RateLimiter(clock, 1, () => 1);
    expect(limiter.take('a')!.allowed).toBe(true);
    expect(limiter.take('a')!.allowed).toBe(false);
    expect(limiter.take('b')!.allowed).toBe(true);
  });

  it('takes a token’s own quota when it has one', () => {
    const limiter = new RateLimiter(clock, 10, (token) => (token === 'bulk' ? 5 : 1));
    expect([1, 2, 3, 4, 5, 6].map(() => limiter.take('bulk')!.allowed)).toEqual([true, true, true, true, true, false]);
    expect(limiter.take('bulk')!.resetSeconds).toBeLessThanOrEqual(10);
  });
});
