import type { Instant } from '#domain';

/** Time enters the system here and nowhere else, so tests and replays can control it. */
export const CLOCK = Symbol('CLOCK');

export interface Clock {
  now(): Instant;
}

export const systemClock: Clock = { now: () => Date.now() };
