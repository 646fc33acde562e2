import { readdirSync, readFileSync } from 'node:fs';
import { BACKGROUND_NICE } from '#event-store';

/** How many threads of this process run at the background threads' nice value, read from /proc (Linux). */
export function backgroundThreads(): number {
  return readdirSync('/proc/self/task').filter((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) === BACKGROUND_NICE;
  }).length;
}

/** A thread's nice value is its own only on Linux: elsewhere these tests do not apply. */
export const onLinux = process.platform === 'linux' ? it : it.skip;
