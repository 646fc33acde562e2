import { readFileSync } from 'node:fs';
import type { BenchFigure } from './bench-figure.js';

/** The machine's CPU time so far, in clock ticks: all of it, and what the hypervisor stole. */
export interface CpuTimes {
  readonly total: number;
  readonly steal: number;
}

/**
 * The aggregate `cpu` line of /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal, then
 * guest and guest_nice, which are already counted in user and nice and so are not added again.
 */
export function parseCpuTimes(stat: string): CpuTimes | undefined {
  const line = /^cpu +([\d ]+)$/m.exec(stat)?.[1];
  const ticks = line?.trim().split(/ +/).map(Number);
  if (!ticks || ticks.length < 8 || ticks.some((n) => !Number.isSafeInteger(n))) return undefined;
  return { total: ticks.slice(0, 8).reduce((sum, n) => sum + n, 0), steal: ticks[7]! };
}

function cpuTimesNow(): CpuTimes | undefined {
  try {
    return parseCpuTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring the share of the machine's CPU time that the hypervisor gave to other guests while
 * this machine's CPUs were ready to run (steal time); what it returns ends the measure. On a shared
 * virtual machine that share comes and goes with the neighbours: a bench figure taken while it was high
 * says more about them than about the ledger, and the bench prints it beside each figure it may have
 * bent. Undefined where there is no /proc/stat, or no time passed.
 */
export function stolenCpuMeter(now: () => CpuTimes | undefined = cpuTimesNow): () => number | undefined {
  const start = now();
  return () => {
    const end = now();
    if (start === undefined || end === undefined || end.total <= start.total) return undefined;
    return (end.steal - start.steal) / (end.total - start.total);
  };
}

/** The figure `<of>_cpu_stolen`, in percent, for a share measured by `stolenCpuMeter`; none without one. */
export function stolenCpuFigure(of: string, share: number | undefined): BenchFigure[] {
  if (share === undefined) return [];
  return [
    {
      bench: `${of}_cpu_stolen`,
      value: Math.round(share * 1000) / 10,
      unit: '%',
      note: `of the CPUs' time, the hypervisor's for other guests while ${of} was measured (steal, /proc/stat)`,
    },
  ];
}
