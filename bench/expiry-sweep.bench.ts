import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CreditAccountEvent } from '#domain';
import { accountsWithExpiredLots, balancesProjection, SqliteReadModelStore, type ProjectedEvent, type Projection } from '#ledger';
import type { BenchFigure } from './bench-figure.js';
import { withLongestHold } from './longest-hold.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-22T00:00:00.000Z');

/**
 * The expiry sweep's search for accounts holding an expired, unrecorded remainder, among the balances of
 * `accounts` accounts of which `due` are: how long it takes, and the longest it holds the thread without
 * a turn of the event loop (the thread also answers requests, so that is how long they wait).
 */
export async function expirySweepSearch(accounts: number, due: number): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-sweep-'));
  const readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  try {
    const projections = [balancesProjection as Projection<unknown>];
    const rebuild = readModels.beginRebuild(projections);
    let position = 0n;
    const purchase = (accountId: string, purchaseId: string, paid: boolean, purchasedAt: number, expiresAt: number): ProjectedEvent => {
      const event: CreditAccountEvent = {
        type: 'CreditsPurchased',
        data: {
          accountId, purchaseId, creditType: 'api', credits: 1_000, paid, source: paid ? 'purchase' : 'trial',
          ...(paid ? { amountMinor: 5_000, currency: 'USD' } : {}),
          purchasedAt: new Date(purchasedAt).toISOString(), expiresAt: new Date(expiresAt).toISOString(), fingerprint: 'v1:bench',
        },
      };
      return { position: position++, accountId, revision: 0n, event, occurredAt: purchasedAt, metadata: undefined, actorUserId: undefined };
    };
    // Every account has a paid pack a year from expiry; the first `due` also an unpaid lot that expired
    // yesterday with credits left.
    for (let start = 0; start < accounts; start += 10_000) {
      const batch: ProjectedEvent[] = [];
      for (let i = start; i < Math.min(accounts, start + 10_000); i++) {
        const accountId = `acct-${i}`;
        if (i < due) batch.push(purchase(accountId, 'trial', false, NOW - 20 * DAY, NOW - DAY));
        batch.push(purchase(accountId, 'pack', true, NOW - 30 * DAY, NOW + 330 * DAY));
      }
      rebuild.add(batch);
    }
    await rebuild.finish(async () => []);

    const started = performance.now();
    const { result: found, longestMs: longest } = await withLongestHold(() => accountsWithExpiredLots(readModels, NOW));
    const ms = performance.now() - started;
    if (found.length !== due) throw new Error(`the sweep's search found ${found.length} accounts, not ${due}`);
    const setup = `${accounts.toLocaleString('en')} accounts' balances, ${due.toLocaleString('en')} with an expired remainder`;
    return [
      { bench: 'expiry_sweep_search_ms', value: Math.round(ms * 10) / 10, unit: 'ms', note: `the sweep's search for accounts to sweep among ${setup}` },
      { bench: 'expiry_sweep_longest_hold_ms', value: Math.round(longest * 10) / 10, unit: 'ms', note: 'the longest the search held the thread between two turns of its event loop' },
    ];
  } finally {
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
