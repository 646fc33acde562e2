import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { cpusOfThread, formatCpuList, interruptsByCpu, parseCpuList, placeThreads, processCpus, quietestOf, threadsCanBePlaced } from './thread-placement.js';

describe('a CPU list', () => {
  it('reads as taskset and the kernel write it', () => {
    expect(parseCpuList('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(parseCpuList(' 3 ')).toEqual([3]);
    expect(parseCpuList('4,1-2,2')).toEqual([1, 2, 4]);
    expect(formatCpuList([1, 2, 4])).toBe('1,2,4');
  });

  it('is refused when it is anything else', () => {
    for (const text of ['', 'a', '2-1', '0,,1', '1-', '-1', '0x1']) expect(parseCpuList(text)).toBeUndefined();
  });
});

describe('the CPU with the fewest device interrupts', () => {
  const interrupts = [
    '           CPU0       CPU1       CPU2',
    '  1:          5          0          0  IO-APIC   1-edge      i8042',
    ' 36:          0   22328022          7  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0',
    ' 39:     125434          0         40  PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0',
    'NMI:          0          0          0   Non-maskable interrupts',
    'LOC:   10408928   11399562        100   Local timer interrupts',
    'ERR:          0',
  ].join('\n');

  it('counts only numbered (device) lines, by column', () => {
    expect(interruptsByCpu(interrupts)).toEqual(new Map([[0, 125439], [1, 22328022], [2, 47]]));
  });

  it('is chosen among the CPUs the process may use; the last of them when nothing is known', () => {
    expect(quietestOf([0, 1, 2], interruptsByCpu(interrupts))).toBe(2);
    expect(quietestOf([0, 1], interruptsByCpu(interrupts))).toBe(0);
    expect(quietestOf([0, 1], undefined)).toBe(1);
    expect(quietestOf([3, 4], interruptsByCpu(interrupts))).toBe(4);
  });
});

const placeable = threadsCanBePlaced();
// The compiled module (as the app's worker threads run it: `npm test` builds first).
const compiled = fileURLToPath(new URL('../../../dist/libs/event-store/src/thread-placement.js', import.meta.url));

/** A worker thread that moves itself as every ledger worker does first; resolves with its thread id. */
function startWorker(): Promise<{ tid: number; worker: Worker }> {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(compiled)}).then((m) => { m.takeBackgroundCpus(); parentPort.postMessage(m.ownThreadId()); });
     setInterval(() => {}, 1000);`,
    { eval: true },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', (tid: number) => resolve({ tid, worker }));
    worker.once('error', reject);
  });
}

(placeable ? describe : describe.skip)('placing the threads (Linux, more than one CPU, taskset)', () => {
  const all = processCpus();
  const deciding = [all.at(-1)!];
  const background = all.slice(0, -1);

  it('puts the main thread on its CPUs and every other thread, started before or after, on the rest; undone, all get every CPU back', async () => {
    const before = await startWorker();
    const undo = placeThreads(deciding);
    try {
      const after = await startWorker();
      expect(cpusOfThread(process.pid)).toEqual(deciding);
      expect(cpusOfThread(before.tid)).toEqual(background);
      expect(cpusOfThread(after.tid)).toEqual(background);
      expect(processCpus()).toEqual(all);
      undo();
      expect(cpusOfThread(process.pid)).toEqual(all);
      expect(cpusOfThread(before.tid)).toEqual(all);
      expect(cpusOfThread(after.tid)).toEqual(all);
      const later = await startWorker();
      expect(cpusOfThread(later.tid)).toEqual(all);
      await Promise.all([before, after, later].map(({ worker }) => worker.terminate()));
    } finally {
      undo();
    }
  });

  it('nests: the threads stay placed until the last placement is undone', () => {
    const first = placeThreads(deciding);
    const second = placeThreads(deciding);
    first();
    first();
    expect(cpusOfThread(process.pid)).toEqual(deciding);
    second();
    expect(cpusOfThread(process.pid)).toEqual(all);
  });

  it('refuses to give the deciding thread every CPU, or one the process may not use, and places nothing', () => {
    expect(() => placeThreads(all)).toThrow(/some, not all, of the process's CPUs/);
    expect(() => placeThreads([Math.max(...all) + 1])).toThrow(/some, not all, of the process's CPUs/);
    expect(cpusOfThread(process.pid)).toEqual(all);
  });
});
