/**
 * Whose turn it is to write the read models, among the threads of a parallel rebuild, in shared memory.
 *
 * SQLite lets one connection write at a time, and a connection that finds the lock taken sleeps in its
 * busy handler and looks again. A thread writing its documents in one transaction after another takes
 * the lock back the moment it lets it go, so another thread can sleep through its whole busy timeout and
 * fail the replay with SQLITE_BUSY (seen in a profiled ten-million-event replay). With turns, a thread
 * whose documents are due writes when no other is writing, and folds on in the meantime.
 */
export class WriteTurns {
  private constructor(private readonly cell: Int32Array) {}

  /** A new set of turns, to hand to each thread (`of`). */
  static shared(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  }

  static of(cell: Int32Array): WriteTurns {
    return new WriteTurns(cell);
  }

  /** Takes the turn if nobody has it. */
  tryTake(): boolean {
    return Atomics.compareExchange(this.cell, 0, FREE, TAKEN) === FREE;
  }

  /** Takes the turn, waiting (blocking this thread) for whoever has it. */
  take(): void {
    while (!this.tryTake()) Atomics.wait(this.cell, 0, TAKEN, WAIT_MS);
  }

  give(): void {
    Atomics.store(this.cell, 0, FREE);
    Atomics.notify(this.cell, 0, 1);
  }
}

const FREE = 0;
const TAKEN = 1;
/** A safety net only: `give` wakes a waiter at once. */
const WAIT_MS = 100;
