import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLedgerCli, startLedger, type LedgerProcess } from '../support/ledger-process.js';

/**
 * Nothing acknowledged is lost, nothing is doubled: charges with idempotency keys are sent while the app
 * is killed with SIGKILL at random moments and restarted on the same data. What was not acknowledged is
 * retried with the same key. `LEDGER_SOAK=1` runs 200 kills instead of 20.
 */
const KILLS = process.env.LEDGER_SOAK ? 200 : 20;
const TOKEN = 'crash-admin-token-0123456789abcdefgh';
const TOKENS = JSON.stringify([{ name: 'admin', token: TOKEN, scopes: ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] }]);
const ACCOUNT = 'crash-test';
const CREDITS = 1_000_000;

type Outcome = { status: 'acked'; credits: number } | { status: 'unknown' };

async function charge(url: string, requestId: string, records: number): Promise<Outcome> {
  try {
    const response = await fetch(`${url}/v1/accounts/${ACCOUNT}/record-charges`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requestId, endpoint: 'job_search', records }),
      signal: AbortSignal.timeout(5000),
    });
    if (response.status !== 200) return { status: 'unknown' };
    const body = (await response.json()) as { creditsCharged: number };
    return { status: 'acked', credits: body.creditsCharged };
  } catch {
    return { status: 'unknown' }; // the connection died with the process: the charge may or may not be in
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 under load', () => {
  let dataDir: string;
  let ledger: LedgerProcess;

  afterAll(async () => {
    await ledger?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`loses no acknowledged charge and doubles none across ${KILLS} crashes`, async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-crash-'));
    const env = { LEDGER_DATA_DIR: dataDir, LEDGER_API_TOKENS: TOKENS };
    ledger = await startLedger(env);
    const bought = await fetch(`${ledger.url}/v1/accounts/${ACCOUNT}/purchases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ purchaseId: 'pack', creditType: 'api', credits: CREDITS, amountMinor: 1, currency: 'USD' }),
    });
    expect(bought.status).toBe(201);

    const acked = new Map<string, number>();
    const unknown = new Set<string>();
    const recordsOf = (requestId: string) => 1 + (Number(requestId.slice(2)) % 5);
    let next = 0;

    for (let kill = 0; kill < KILLS; kill++) {
      const url = ledger.url;
      let running = true;
      const clients = Array.from({ length: 16 }, async () => {
        while (running) {
          const requestId = `r-${next++}`;
          const outcome = await charge(url, requestId, recordsOf(requestId));
          if (outcome.status === 'acked') acked.set(requestId, outcome.credits);
          else unknown.add(requestId);
          if (outcome.status === 'unknown') return; // this client's connection is gone
        }
      });
      await sleep(50 + Math.random() * 250);
      ledger.child.kill('SIGKILL');
      await once(ledger.child, 'exit');
      running = false;
      await Promise.all(clients);
      ledger = await startLedger(env);
    }

    // Everything not acknowledged is retried with its key until it is: each lands exactly once.
    for (const requestId of unknown) {
      const outcome = await charge(ledger.url, requestId, recordsOf(requestId));
      expect(outcome.status).toBe('acked');
      if (outcome.status === 'acked') acked.set(requestId, outcome.credits);
    }
    expect(acked.size).toBe(next);

    const events: { type: string; data: { requestId?: string; credits?: number } }[] = [];
    for (let from: string | null = '0'; from !== null; ) {
      const page = await fetch(`${ledger.url}/v1/accounts/${ACCOUNT}/events?from=${from}&limit=1000`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = (await page.json()) as { events: typeof events; next: string | null };
      events.push(...body.events);
      from = body.next;
    }
    const charged = events.filter((e) => e.type === 'RecordsReturned');
    const perRequest = new Map<string, number>();
    for (const e of charged) perRequest.set(e.data.requestId!, (perRequest.get(e.data.requestId!) ?? 0) + 1);
    expect([...perRequest.values()].every((n) => n === 1)).toBe(true); // no key charged twice
    expect(new Set(perRequest.keys())).toEqual(new Set(acked.keys())); // every acknowledged charge is there
    const total = charged.reduce((sum, e) => sum + e.data.credits!, 0);
    expect(total).toBe([...acked.values()].reduce((a, b) => a + b, 0));

    const balance = await fetch(`${ledger.url}/v1/accounts/${ACCOUNT}/balance`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await balance.json()) as { api: { available: number } }).api.available).toBe(CREDITS - total);

    await ledger.stop();
    const verify = await runLedgerCli(['verify'], env);
    expect(verify.stdout).toContain('"ok":true');
    expect(verify.code).toBe(0);
  }, Math.max(240_000, KILLS * 3_000)); // a restart takes about a second; 3 s a kill leaves room
});
