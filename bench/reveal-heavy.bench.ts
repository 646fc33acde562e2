import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RevealAnswer } from '#domain';
import { SqliteEventStore } from '#event-store';
import { CreditAccountWriter, SqliteAccountSnapshots, systemClock } from '#ledger';
import type { BenchFigure } from './bench-figure.js';
import { withLongestHold } from './longest-hold.js';

const context = { correlationId: 'bench', actor: 'bench' };

/**
 * One account revealing `requests` × 1,000 new companies, with snapshots as the app takes them: the time
 * of a request once the account holds that many reveal windows (the last 50 requests' mean), and the first
 * reveal after a restart.
 */
export async function revealHeavyAccount(requests: number): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-reveals-'));
  const store = SqliteEventStore.open(join(dir, 'events.sqlite'));
  const snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread: true });
  try {
    const writer = new CreditAccountWriter(store, systemClock, { snapshots });
    await writer.execute({ type: 'PurchaseCredits', accountId: 'revealer', purchaseId: 'p', creditType: 'company', credits: 100_000_000, paid: true, amountMinor: 1, currency: 'USD' }, context);
    const reveal = (requestId: string, companyIds: string[]) =>
      writer.execute({ type: 'RevealCompanies', accountId: 'revealer', requestId, companyIds, action: 'reveal', allowPartial: false }, context);
    const tail = Math.min(50, requests);
    let tailStarted = 0;
    const { longestMs } = await withLongestHold(async () => {
      for (let r = 0; r < requests; r++) {
        if (r === requests - tail) tailStarted = performance.now();
        const { answer } = await reveal(`rq-${r}`, Array.from({ length: 1_000 }, (_, i) => `co-${r * 1_000 + i}`));
        if ((answer as RevealAnswer).creditsCharged !== 1_000) throw new Error('a reveal of new companies did not charge them');
      }
    });
    const perRequest = (performance.now() - tailStarted) / tail;
    await writer.close();

    const restarted = new CreditAccountWriter(store, systemClock, { snapshots });
    const started = performance.now();
    const { answer } = await restarted.execute(
      { type: 'RevealCompanies', accountId: 'revealer', requestId: 'after-restart', companyIds: ['co-0', 'co-new'], action: 'reveal', allowPartial: false },
      context,
    );
    const firstAfterRestart = performance.now() - started;
    // co-0 is inside its window: only the new company is charged.
    if ((answer as RevealAnswer).creditsCharged !== 1) throw new Error('a window was lost across the restart');
    await restarted.close();
    const windows = (requests * 1_000).toLocaleString('en');
    return [
      { bench: 'reveal_heavy_request_ms', value: Math.round(perRequest * 10) / 10, unit: 'ms', note: `a request revealing 1,000 new companies, the account holding ${windows} windows (snapshots on)` },
      { bench: 'reveal_heavy_longest_hold_ms', value: Math.round(longestMs), unit: 'ms', note: 'the longest the deciding thread went without a turn of its event loop meanwhile (other accounts wait that long)' },
      { bench: 'reveal_heavy_first_after_restart_ms', value: Math.round(firstAfterRestart), unit: 'ms', note: `the first reveal after a restart, with ${windows} windows stored` },
    ];
  } finally {
    await snapshots.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
