import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompanyRevealed } from '#domain';
import { collect, SqliteEventStore } from '#event-store';
import type { Clock } from '../clock/clock.port.js';
import type { AccountSnapshots } from '../snapshots/account-snapshots.port.js';
import { SqliteAccountSnapshots } from '../snapshots/sqlite-account-snapshots.store.js';
import { seededRandom } from '../testing/seeded-random.js';
import { testContext as context } from '../testing/writer-commands.js';
import { CreditAccountWriter, type Execution, type SubmittedCommand } from './credit-account.writer.js';

const ACCOUNTS = ['a', 'b', 'c', 'd'];
const COMPANIES = 80;
const DAY = 86_400_000;

/** `snapshots` with every write delayed by up to `maxDelayMs`, as a busy disk or thread would. */
function slowed(snapshots: AccountSnapshots, next: () => number, maxDelayMs: number): AccountSnapshots {
  const later = () => new Promise((resolve) => setTimeout(resolve, next() * maxDelayMs));
  return {
    load: (accountId) => snapshots.load(accountId),
    findEntry: (accountId, key) => snapshots.findEntry(accountId, key),
    findWindows: (accountId, companyIds) => snapshots.findWindows(accountId, companyIds),
    saveEntries: async (accountId, revision, entries) => {
      await later();
      await snapshots.saveEntries(accountId, revision, entries);
    },
    saveSnapshot: async (accountId, snapshot) => {
      await later();
      await snapshots.saveSnapshot(accountId, snapshot);
    },
    storedKeys: (accountId) => snapshots.storedKeys(accountId),
    close: async () => undefined,
  };
}

/**
 * The writer with every memory bound tiny, so that accounts are evicted and reloaded, snapshots are taken
 * every few events and stored slowly while later commands are decided and appended, and idempotency
 * entries and reveal windows leave memory and are fetched again, all the time. Whatever the interleaving,
 * a retry gets its original answer and writes nothing, and no company is charged again inside its window.
 */
describe.each([1, 2, 3])('CreditAccountWriter under tiny memory bounds (seed %i)', (seed) => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-memory-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every retry as the first time, and charges each company once while its window is open', async () => {
    const next = seededRandom(seed);
    let now = Date.parse('2026-06-01T12:00:00.000Z');
    const clock: Clock = { now: () => now };
    const store = SqliteEventStore.open(join(dir, 'ledger.sqlite'), { appendThread: true });
    const snapshotFile = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread: true });
    const snapshots = slowed(snapshotFile, next, 12);
    const open = () =>
      new CreditAccountWriter(store, clock, { snapshots, snapshotEvery: 15, maxEntriesInMemory: 8, maxWindowsInMemory: 6, maxCachedAccounts: 2 });

    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const sent: SubmittedCommand[] = [];
    const first = new Map<SubmittedCommand, Execution>();
    let writer = open();
    for (const accountId of ACCOUNTS) {
      for (const creditType of ['api', 'company'] as const) {
        await writer.execute({ type: 'PurchaseCredits', accountId, purchaseId: `${creditType}-credits`, creditType, credits: 1_000_000, paid: true, amountMinor: 100, currency: 'USD' }, context);
      }
    }

    const fresh = (n: number): SubmittedCommand => {
      const accountId = pick(ACCOUNTS);
      const kind = next();
      if (kind < 0.4) {
        return { type: 'ChargeRecords', accountId, requestId: `q-${n}`, endpoint: pick(['job_search', 'company_search', 'technographics'] as const), records: 1 + Math.floor(next() * 20), allowPartial: false };
      }
      if (kind < 0.8) {
        const companyIds = Array.from({ length: 1 + Math.floor(next() * 4) }, () => `co-${Math.floor(next() * COMPANIES)}`);
        return { type: 'RevealCompanies', accountId, requestId: `v-${n}`, companyIds, action: pick(['reveal', 'export'] as const), allowPartial: false };
      }
      return { type: 'DispatchWebhook', accountId, webhookEventId: `e-${n}`, webhookId: 'hook', recordType: pick(['job', 'company'] as const) };
    };

    for (let round = 0, n = 0; round < 40; round++) {
      const wave: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        // A third are retries of commands already sent (perhaps still in flight in this very wave).
        const command = sent.length > 0 && next() < 0.33 ? pick(sent) : fresh(n++);
        if (!sent.includes(command)) sent.push(command);
        const by = writer;
        wave.push(
          by.execute(command, context).then((execution) => {
            const original = first.get(command);
            if (!original) first.set(command, execution);
            else if (!execution.replayed || JSON.stringify(execution.answer) !== JSON.stringify(original.answer)) {
              throw new Error(`a retry of ${JSON.stringify(command)} was decided again: ${JSON.stringify(execution)} after ${JSON.stringify(original)}`);
            }
          }),
        );
        if (next() < 0.2) await new Promise((resolve) => setTimeout(resolve, next() * 4));
      }
      await Promise.all(wave);
      // Now and then a month passes: windows close, and companies revealed again open new ones.
      now += round % 8 === 7 ? 31 * DAY : 1_000;
      if (next() < 0.15) {
        // A restart: whatever was snapshotted is loaded, the rest folded.
        await writer.close();
        writer = open();
      }
    }

    // Every command again, after a last restart: each is a retry.
    await writer.close();
    writer = open();
    for (const command of sent) {
      const again = await writer.execute(command, context);
      expect(again.replayed).toBe(true);
      expect(again.answer).toEqual(first.get(command)!.answer);
    }
    await writer.close();

    // A company is charged again only once its window closed; a request is charged once.
    let reopened = 0;
    for (const accountId of ACCOUNTS) {
      const events = await collect(store.readStream(`creditAccount-${accountId}`));
      const lastCharged = new Map<string, number>();
      for (const event of events.filter((e) => e.type === 'CompanyRevealed')) {
        const { companyId, revealedAt } = event.data as CompanyRevealed['data'];
        const at = Date.parse(revealedAt);
        const before = lastCharged.get(companyId);
        if (before !== undefined) {
          expect(at - before).toBeGreaterThanOrEqual(90 * DAY);
          reopened += 1;
        }
        lastCharged.set(companyId, at);
      }
      const requests = events.filter((e) => e.type === 'RecordsReturned' || e.type === 'WebhookDispatched').map((e) => JSON.stringify([e.type, (e.data as { requestId?: string; webhookEventId?: string }).requestId ?? (e.data as { webhookEventId?: string }).webhookEventId]));
      expect(new Set(requests).size).toBe(requests.length);
    }
    expect(reopened).toBeGreaterThan(0);
    await snapshotFile.close();
    await store.close();
  });
});
