/**
 * Counts the turns of the event loop from now until `stop()`: work that gives the thread back between
 * its pages lets it count, work done in one go does not.
 */
export function countEventLoopTurns(): { stop(): number } {
  let turns = 0;
  let counting = true;
  const count = () => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  return {
    stop: () => {
      counting = false;
      return turns;
    },
  };
}
