import { parseCpuTimes, stolenCpuFigure, stolenCpuMeter, type CpuTimes } from './stolen-cpu.js';

// The first lines of /proc/stat on a two-CPU guest, as the kernel writes them.
const STAT = `cpu  840773 39699 178001 936845 20483 0 16662 5402 120 7
cpu0 420001 19800 89000 468000 10241 0 8331 2701 60 3
cpu1 420772 19899 89001 468845 10242 0 8331 2701 60 4
intr 123456 0 9 0
ctxt 987654321
`;

describe('parseCpuTimes', () => {
  it('adds the eight kinds of time of the whole machine, not guest time (already in user and nice), and takes steal apart', () => {
    expect(parseCpuTimes(STAT)).toEqual({ total: 840773 + 39699 + 178001 + 936845 + 20483 + 0 + 16662 + 5402, steal: 5402 });
  });

  it('reads the machine line, not a CPU of it', () => {
    expect(parseCpuTimes(STAT.split('\n').slice(1).join('\n'))).toBeUndefined();
  });

  it('knows nothing from a kernel too old to count steal, or from anything else', () => {
    expect(parseCpuTimes('cpu  1 2 3 4 5 6 7\n')).toBeUndefined();
    expect(parseCpuTimes('')).toBeUndefined();
    expect(parseCpuTimes('cpu  1 2 x 4 5 6 7 8\n')).toBeUndefined();
  });
});

describe('stolenCpuMeter', () => {
  const clock = (...readings: (CpuTimes | undefined)[]) => () => readings.shift();

  it('gives the share of the time between start and end that was stolen', () => {
    const stop = stolenCpuMeter(clock({ total: 1_000, steal: 10 }, { total: 1_400, steal: 110 }));
    expect(stop()).toBe(0.25);
  });

  it('gives nothing where the times cannot be read, or when none passed', () => {
    expect(stolenCpuMeter(clock(undefined, { total: 10, steal: 1 }))()).toBeUndefined();
    expect(stolenCpuMeter(clock({ total: 10, steal: 1 }, undefined))()).toBeUndefined();
    expect(stolenCpuMeter(clock({ total: 10, steal: 1 }, { total: 10, steal: 1 }))()).toBeUndefined();
  });

  it('reads this machine by default: on Linux a share between 0 and 1 once some ticks passed', () => {
    const stop = stolenCpuMeter();
    let spins = 0;
    for (const until = Date.now() + 100; Date.now() < until; ) spins += 1;
    const share = stop();
    expect(spins).toBeGreaterThan(0);
    if (process.platform !== 'linux') return expect(share).toBeUndefined();
    expect(share).toBeGreaterThanOrEqual(0);
    expect(share).toBeLessThanOrEqual(1);
  });
});

describe('stolenCpuFigure', () => {
  it('names the figure after the one it was measured with, in percent to a tenth', () => {
    expect(stolenCpuFigure('hot_account_charges_per_second', 0.12345)).toEqual([
      expect.objectContaining({ bench: 'hot_account_charges_per_second_cpu_stolen', value: 12.3, unit: '%' }),
    ]);
  });

  it('adds no figure without a measure', () => {
    expect(stolenCpuFigure('x', undefined)).toEqual([]);
  });
});
