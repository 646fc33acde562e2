import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';

// Which CPUs the process's threads may run on, as Redis's `server_cpulist` and `bio_cpulist` settle it:
// the main thread, which decides every command (and serves every request), on CPUs of its own; every
// other thread (appends, projections, snapshots, checkpoints, the garbage collector's helpers) on the
// rest. With two vCPUs and the threads left to the scheduler, the deciding thread shared its CPU with
// threads of equal weight and moved between CPUs with its caches cold: a hot account's charge cost the
// whole process 19.2-20.5 µs of CPU against 16.9-19.6 placed, and over 10,000 accounts 30.6-32.6 µs
// against 23.1-25.9 (docs/benchmarks.md). Placing is for a host that runs one ledger: two placed on the
// same CPU would share it. Linux only: the affinity is set with `taskset` (util-linux), there being no call for it in Node.

/** The environment data (`worker_threads.setEnvironmentData`) by which later worker threads find their CPUs. */
const BACKGROUND_CPUS = 'ledger:background-cpus';

/** `0-2,5` → [0, 1, 2, 5]; undefined for anything else. */
export function parseCpuList(text: string): number[] | undefined {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const range = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part.trim());
    if (!range) return undefined;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from) return undefined;
    for (let cpu = from; cpu <= to; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

export function formatCpuList(cpus: readonly number[]): string {
  return cpus.join(',');
}

/** The CPUs a thread may run on now (`Cpus_allowed_list` of its status). */
export function cpusOfThread(tid: number | 'self'): number[] {
  const status = readFileSync(tid === 'self' ? '/proc/thread-self/status' : `/proc/self/task/${tid}/status`, 'utf8');
  const line = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status);
  const cpus = line ? parseCpuList(line[1]!) : undefined;
  if (!cpus) throw new Error(`Cannot read the CPUs of thread ${tid}`);
  return cpus;
}

/** This thread's id (Linux): the main thread's is the process id. */
export function ownThreadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/**
 * Of `cpus`, the one that has taken the fewest device interrupts (`/proc/interrupts`): the deciding thread
 * runs there, not where the disk's completions are handled. On the 2-vCPU machines of docs/benchmarks.md
 * every interrupt of the block device goes to CPU 1; a hot account did 68,000 charges a second with the
 * deciding thread there, 73,000 on CPU 0 and 66,300 unplaced (means of three alternated runs). The last
 * of them when the counts cannot be read.
 */
export function quietestCpu(cpus: readonly number[]): number {
  return quietestOf(cpus, readInterrupts());
}

/** `quietestCpu` given the counts (`interruptsByCpu`), or none. */
export function quietestOf(cpus: readonly number[], interrupts: ReadonlyMap<number, number> | undefined): number {
  let quietest = cpus.at(-1)!;
  let fewest = Infinity;
  for (const cpu of cpus) {
    const count = interrupts?.get(cpu);
    if (count !== undefined && count < fewest) {
      fewest = count;
      quietest = cpu;
    }
  }
  return quietest;
}

/** Device interrupts taken by each CPU so far: the numbered lines of `/proc/interrupts`, by column. */
export function interruptsByCpu(text: string): Map<number, number> {
  const [header = '', ...lines] = text.split('\n');
  const columns = header.trim().split(/\s+/).map((name) => Number(/^CPU(\d+)$/.exec(name)?.[1]));
  const counts = new Map<number, number>();
  for (const line of lines) {
    const device = /^\s*\d+:((?:\s+\d+)+)/.exec(line);
    if (!device) continue;
    device[1]!.trim().split(/\s+/).forEach((count, i) => {
      const cpu = columns[i];
      if (cpu !== undefined && !Number.isNaN(cpu)) counts.set(cpu, (counts.get(cpu) ?? 0) + Number(count));
    });
  }
  return counts;
}

function readInterrupts(): Map<number, number> | undefined {
  try {
    return interruptsByCpu(readFileSync('/proc/interrupts', 'utf8'));
  } catch {
    return undefined;
  }
}

let placements = 0;
/** The main thread's CPUs before the first placement: what every thread gets back after the last. */
let unplacedCpus: number[] | undefined;

/**
 * The CPUs the process may use, placed or not: those its main thread had before the first placement.
 * Empty off Linux.
 */
export function processCpus(): number[] {
  if (process.platform !== 'linux') return [];
  return unplacedCpus ?? cpusOfThread(process.pid);
}

/** Whether `placeThreads` can work here: Linux, more than one CPU for the process, and `taskset`. */
export function threadsCanBePlaced(): boolean {
  return processCpus().length > 1 && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Puts the main thread on `deciding` and every other thread, now and started later, on the rest of the
 * process's CPUs. Returns what undoes it; placements nest, and the last undone gives every thread the CPUs
 * the main thread had before the first. Throws, placing nothing, where it cannot be done.
 */
export function placeThreads(deciding: readonly number[]): () => void {
  if (!isMainThread) throw new Error('Threads are placed from the main thread');
  if (process.platform !== 'linux') throw new Error('Placing threads on CPUs needs Linux');
  const all = processCpus();
  const background = all.filter((cpu) => !deciding.includes(cpu));
  if (deciding.length === 0 || background.length === 0 || deciding.some((cpu) => !all.includes(cpu))) {
    throw new Error(`CPUs ${formatCpuList(deciding)} for the deciding thread must be some, not all, of the process's CPUs (${formatCpuList(all)})`);
  }
  const before = unplacedCpus ?? all;
  taskset(['-a', '-p', '-c', formatCpuList(background), String(process.pid)]);
  try {
    taskset(['-p', '-c', formatCpuList(deciding), String(process.pid)]);
  } catch (error) {
    taskset(['-a', '-p', '-c', formatCpuList(before), String(process.pid)]);
    throw error;
  }
  unplacedCpus = before;
  placements += 1;
  setEnvironmentData(BACKGROUND_CPUS, formatCpuList(background));
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    placements -= 1;
    if (placements > 0) return;
    setEnvironmentData(BACKGROUND_CPUS, undefined);
    unplacedCpus = undefined;
    taskset(['-a', '-p', '-c', formatCpuList(before), String(process.pid)]);
  };
}

/**
 * Called first by every worker thread of the ledger: one started while the threads are placed was given
 * its creator's CPUs, the deciding thread's, and moves to the others. A thread that cannot move runs on
 * as it is.
 */
export function takeBackgroundCpus(): void {
  if (isMainThread || process.platform !== 'linux') return;
  const cpus = getEnvironmentData(BACKGROUND_CPUS);
  if (typeof cpus !== 'string') return;
  try {
    taskset(['-p', '-c', cpus, String(ownThreadId())]);
  } catch {
    // Placement is about speed, never about what is stored.
  }
}

function taskset(args: readonly string[]): void {
  const run = spawnSync('taskset', args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.error) throw new Error(`Placing threads on CPUs needs the taskset command (util-linux): ${run.error.message}`);
  if (run.status !== 0) throw new Error(`taskset ${args.join(' ')} failed: ${run.stderr.trim()}`);
}
