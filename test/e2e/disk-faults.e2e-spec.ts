import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chargesByRequestId, chargeWhile, retryUntilAcked } from '../support/charge-load.js';
import { httpClient } from '../support/http.js';
import { runLedgerCli, startLedger, type LedgerProcess } from '../support/ledger-process.js';

const TOKEN = 'disk-fault-token-0123456789abcdefghij';
const TOKENS = JSON.stringify([{ name: 'gateway', token: TOKEN, scopes: ['ledger:write', 'ledger:read', 'audit:read'] }]);
const CREDITS = 1_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Fills the file system under `dir` until the kernel says it is full (ENOSPC). */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1 << 20);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

/** Both faults are real kernel refusals: a full tmpfs (ENOSPC) and immutable files (EPERM on write). */
const canMount = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'ledger-mount-probe-'));
  const ok = tryRun('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]) && tryRun('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();
const canMakeImmutable = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'ledger-chattr-probe-'));
  const file = join(probe, 'f');
  closeSync(openSync(file, 'w'));
  const ok = tryRun('chattr', ['+i', file]) && tryRun('chattr', ['-i', file]);
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();
if (!canMount) console.warn('disk-faults: cannot mount a tmpfs here (needs root); the disk-full test is skipped');
if (!canMakeImmutable) console.warn('disk-faults: cannot set immutable files here (needs root on ext4); the read-only test is skipped');

/**
 * The SQLite file's disk fills up, or its files become read-only, in the middle of the load: commands get
 * 503 with Retry-After, the app recovers by itself when the fault clears, nothing acknowledged is lost,
 * nothing retried is doubled, the files pass SQLite's integrity check and `ledger verify` proves the read
 * models equal the events (nothing half-written).
 */
describe('the SQLite store under disk faults', () => {
  let dataDir: string;
  let ledger: LedgerProcess | undefined;
  let cleanup: () => void = () => {};

  afterEach(async () => {
    await ledger?.stop();
    ledger = undefined;
    cleanup();
    cleanup = () => {};
  });

  async function loadThrough(fault: () => Promise<void>): Promise<void> {
    const env = { LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS, LEDGER_EXPIRY_SWEEP_INTERVAL_MS: '0' };
    ledger = await startLedger(env);
    const client = httpClient(ledger.url, TOKEN);
    const account = '/v1/accounts/disk-fault';
    expect((await client.post(`${account}/purchases`, { purchaseId: 'p', creditType: 'api', credits: CREDITS, amountMinor: 1, currency: 'USD' })).status).toBe(201);

    const outcome = await chargeWhile(client, account, fault);
    expect(outcome.unavailable.length).toBeGreaterThan(0);
    expect(outcome.unavailable.every((u) => u.retryAfter === '1' && u.code === 'STORE_UNAVAILABLE')).toBe(true);
    expect(outcome.acked.size).toBeGreaterThan(0);

    await retryUntilAcked(client, account, outcome);
    const charged = await chargesByRequestId(client, account);
    expect([...charged.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(charged.keys())).toEqual(outcome.acked);
    expect((await client.get(`${account}/balance`)).body.api.available).toBe(CREDITS - outcome.acked.size);

    await ledger.stop();
    ledger = undefined;
    for (const file of ['ledger.sqlite', 'read-models.sqlite']) {
      const db = new Database(join(dataDir, file), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    }
    const verify = await runLedgerCli(['verify'], env);
    expect(verify.stdout).toContain('"ok":true');
    expect(verify.code).toBe(0);
  }

  (canMount ? it : it.skip)('a full disk answers 503, and the ledger recovers by itself once space is freed', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-disk-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dataDir]);
    cleanup = () => {
      tryRun('umount', [dataDir]);
      rmSync(dataDir, { recursive: true, force: true });
    };
    const filler = join(dataDir, 'filler');
    await loadThrough(async () => {
      await sleep(300);
      fillDisk(filler);
      await sleep(800);
      rmSync(filler);
      await sleep(1500);
    });
  }, 90_000);

  (canMakeImmutable ? it : it.skip)('read-only store files answer 503, and the ledger recovers by itself once they are writable', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-read-only-'));
    const storeFiles = () => ['ledger.sqlite', 'ledger.sqlite-wal'].map((f) => join(dataDir, f)).filter(existsSync);
    cleanup = () => {
      for (const file of storeFiles()) tryRun('chattr', ['-i', file]);
      rmSync(dataDir, { recursive: true, force: true });
    };
    mkdirSync(dataDir, { recursive: true });
    await loadThrough(async () => {
      await sleep(300);
      const files = storeFiles();
      for (const file of files) execFileSync('chattr', ['+i', file]);
      await sleep(800);
      for (const file of files) execFileSync('chattr', ['-i', file]);
      await sleep(1500);
    });
  }, 90_000);
});
