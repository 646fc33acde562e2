/**
 * Callers waiting until the projections reach a position (read-your-writes), each for a while at most.
 * `reached` says where the projections are; `notify` is called whenever that moves.
 */
export class PositionWaiters {
  private readonly waiters = new Set<{ readonly position: bigint; readonly resolve: () => void }>();

  constructor(private readonly reached: () => bigint) {}

  /** True once `position` is reached; false if `timeoutMs` passed first (or everything was released). */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.reached() >= position) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(this.reached() >= position);
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** True while somebody waits. */
  get waiting(): boolean {
    return this.waiters.size > 0;
  }

  notify(): void {
    const reached = this.reached();
    for (const waiter of this.waiters) if (reached >= waiter.position) waiter.resolve();
  }

  /** Answers every waiter now, with where things stand (on stop). */
  releaseAll(): void {
    for (const waiter of this.waiters) waiter.resolve();
  }
}
