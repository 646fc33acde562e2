import { performance } from 'node:perf_hooks';

/**
 * Runs `run` while watching this thread's event loop: the longest stretch between two of its turns is how
 * long a request arriving then would have waited.
 */
export async function withLongestHold<T>(run: () => Promise<T>): Promise<{ readonly result: T; readonly longestMs: number }> {
  let longest = 0;
  let last = performance.now();
  let watching = true;
  const turn = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (watching) setImmediate(turn);
  };
  setImmediate(turn);
  try {
    const result = await run();
    turn();
    return { result, longestMs: longest };
  } finally {
    watching = false;
  }
}
