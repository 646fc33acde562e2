// Atomics.waitAsync is in Node 16+, but in TypeScript's lib only from ES2024 (which Node 20 lacks parts of).
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

const COMMITS = 0;
const WAITING = 1;

/**
 * A count of the commits made through a store, in shared memory, that any thread can wait on: the
 * thread that commits (the append thread, when there is one) bumps it, and a thread that follows the
 * store (the projection thread) is woken without the thread that serves requests doing anything.
 *
 * A bump is an atomic add and load; it wakes the follower only when the follower waits. A bump while the
 * follower is busy is seen when it next waits: the count moved, so the wait returns at once. Every step
 * is sequentially consistent, so whichever order the two threads' steps take, a bump is either seen by
 * the wait's comparison or wakes the waiter.
 */
export const CommitSignal = {
  create(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  },

  /** How many bumps there have been: a thread that only looks now and then compares two counts. */
  count(signal: Int32Array): number {
    return Atomics.load(signal, COMMITS);
  },

  /** After a commit, on the thread that made it. */
  bump(signal: Int32Array): void {
    Atomics.add(signal, COMMITS, 1);
    if (Atomics.load(signal, WAITING) === 1) Atomics.notify(signal, COMMITS);
  },

  /**
   * On the thread that follows: calls `onBump` once for any number of bumps since the last call, until
   * `stopped()` is true at a bump. One follower per signal.
   */
  async follow(signal: Int32Array, onBump: () => void, stopped: () => boolean): Promise<void> {
    let seen = Atomics.load(signal, COMMITS);
    while (!stopped()) {
      Atomics.store(signal, WAITING, 1);
      const wait = waitAsync(signal, COMMITS, seen);
      if (wait.async) await wait.value;
      Atomics.store(signal, WAITING, 0);
      seen = Atomics.load(signal, COMMITS);
      onBump();
    }
  },
};
