import { performance } from 'node:perf_hooks';

export interface FixedRateRun {
  /** Requests answered: all that were due, unless one failed (then the run rejects). */
  readonly answered: number;
  /** From the first request's due time to the last answer. */
  readonly seconds: number;
  /** Milliseconds from each request's due time to its answer, in the order answered. */
  readonly latencies: number[];
}

/**
 * Sends `rate` requests a second for `seconds`, whatever the answers' pace (an open loop, as wrk2 does):
 * request `i` is due at `i / rate` seconds, goes out on a free connection, or waits for one. Its latency is
 * counted from when it was due, not from when it was sent, so a stall of the app shows in every request
 * it held up ("coordinated omission", Tene): a closed loop of N clients would send less during a stall
 * and count only N slow requests.
 */
export function atFixedRate<Connection>(options: {
  readonly rate: number;
  readonly seconds: number;
  readonly connections: readonly Connection[];
  readonly send: (connection: Connection, i: number) => Promise<void>;
  readonly now?: () => number;
}): Promise<FixedRateRun> {
  const { rate, connections, send } = options;
  const now = options.now ?? (() => performance.now());
  const total = Math.floor(rate * options.seconds);
  if (!(rate > 0) || total < 1 || connections.length === 0) throw new RangeError('a fixed-rate run needs a rate, a duration and connections');
  const free = [...connections];
  const waiting: number[] = [];
  const latencies: number[] = [];
  const start = now();
  const dueAt = (i: number) => start + (i * 1000) / rate;
  let dispatched = 0;
  let inFlight = 0;
  let failed = false;

  return new Promise((resolve, reject) => {
    const run = (connection: Connection, i: number): void => {
      inFlight += 1;
      send(connection, i).then(
        () => {
          inFlight -= 1;
          if (failed) return;
          latencies.push(now() - dueAt(i));
          const next = waiting.shift();
          if (next === undefined) free.push(connection);
          else run(connection, next);
          if (dispatched === total && inFlight === 0) resolve({ answered: latencies.length, seconds: (now() - start) / 1000, latencies });
        },
        (error: unknown) => {
          inFlight -= 1;
          failed = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    };
    const tick = (): void => {
      if (failed) return;
      const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1);
      for (; dispatched < due; dispatched++) {
        const connection = free.pop();
        if (connection === undefined) waiting.push(dispatched);
        else run(connection, dispatched);
      }
      if (dispatched < total) setTimeout(tick, Math.max(0, dueAt(dispatched) - now()));
    };
    tick();
  });
}
