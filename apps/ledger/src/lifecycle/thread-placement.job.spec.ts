import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpusOfThread, processCpus, quietestCpu, threadsCanBePlaced } from '#event-store';
import { readConfig } from '../config/ledger.config.js';
import { createLedgerApp } from '../ledger.app.js';

const placeable = threadsCanBePlaced();

function threadIds(): number[] {
  return readdirSync('/proc/self/task').map(Number);
}

(placeable ? describe : describe.skip)('the ledger with LEDGER_DECIDING_CPUS (Linux, more than one CPU, taskset)', () => {
  it('runs its main thread on those CPUs and its other threads on the rest while it runs, and gives them back when it stops', async () => {
    const all = processCpus();
    const dataDir = mkdtempSync(join(tmpdir(), 'ledger-placement-'));
    const config = readConfig({
      LEDGER_DATA_DIR: dataDir,
      LEDGER_DECIDING_CPUS: 'auto',
      LEDGER_API_TOKENS: JSON.stringify([{ name: 'test', token: 'a-token-of-at-least-24-characters', scopes: ['ledger:write'] }]),
    });
    const app = await createLedgerApp(config, { logLevel: 'silent' });
    try {
      const deciding = quietestCpu(all);
      expect(cpusOfThread(process.pid)).toEqual([deciding]);
      // The append, projection, snapshot and checkpoint threads among them.
      const others = threadIds().filter((tid) => tid !== process.pid);
      expect(others.length).toBeGreaterThanOrEqual(4);
      for (const tid of others) expect(cpusOfThread(tid)).toEqual(all.filter((cpu) => cpu !== deciding));
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    for (const tid of threadIds()) expect(cpusOfThread(tid)).toEqual(all);
  });
});
