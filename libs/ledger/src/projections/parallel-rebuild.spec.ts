import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '#event-store';
import { testContext } from '../testing/writer-commands.js';
import { CreditAccountWriter, type SubmittedCommand } from '../write-path/credit-account.writer.js';
import { LEDGER_PROJECTIONS } from './index.js';
import { foldInParallel, rebuildScript } from './parallel-rebuild.js';
import { projectStoredEvent } from './projection-engine.js';
import type { ProjectedEvent } from './projection.js';
import { SqliteReadModelStore } from './read-model-store.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');

/** A team's traffic: purchases, alerts, charges, reveals and webhooks; `commands` of them after the set-up. */
function trafficOf(accountId: string, commands: number): SubmittedCommand[] {
  const traffic: SubmittedCommand[] = [
    { type: 'PurchaseCredits', accountId, purchaseId: 'api', creditType: 'api', credits: 100_000, paid: true, amountMinor: 9_900, currency: 'USD' },
    { type: 'PurchaseCredits', accountId, purchaseId: 'co', creditType: 'company', credits: 40, paid: false, source: 'trial', expiresAt: T0 + 30 * 86_400_000 },
    { type: 'SetBalanceAlerts', accountId, creditType: 'api', consumedPercents: [1, 50], setBy: 'owner' },
  ];
  for (let i = 0; i < commands; i++) {
    if (i % 7 === 3) {
      traffic.push({ type: 'RevealCompanies', accountId, requestId: `rv-${i}`, companyIds: [`co-${i % 13}`, `co-${(i * 5) % 17}`], action: 'reveal', allowPartial: true, userId: `u-${i % 3}` });
    } else if (i % 7 === 5) {
      traffic.push({ type: 'DispatchWebhook', accountId, webhookEventId: `we-${i}`, webhookId: `wh-${i % 2}`, recordType: i % 2 ? 'job' : 'company' });
    } else {
      traffic.push({ type: 'ChargeRecords', accountId, requestId: `rq-${i}`, endpoint: i % 3 ? 'job_search' : 'technographics', records: 1 + (i % 9), allowPartial: false, apiKeyId: `key-${i % 2}` });
    }
  }
  return traffic;
}

describe('a replay folded in worker threads, account by account', () => {
  let dir: string;
  let store: SqliteEventStore;
  let now: number;
  let writer: CreditAccountWriter;

  beforeAll(async () => {
    expect(rebuildScript()).toBeDefined(); // built: the threads run
    dir = mkdtempSync(join(tmpdir(), 'ledger-parallel-rebuild-'));
    store = SqliteEventStore.open(join(dir, 'events.sqlite'));
    now = T0;
    // Every decision a minute later, so the usage spreads over many buckets.
    writer = new CreditAccountWriter(store, { now: () => (now += 60_000) });
    // Accounts of every size, one of them longer than many pages; their commands interleaved, as traffic is.
    const accounts = Array.from({ length: 40 }, (_, i) => trafficOf(`team-${String((i * 7919) % 1000).padStart(3, '0')}`, i === 17 ? 600 : (i * 13) % 50));
    for (let turn = 0; accounts.some((commands) => commands.length > 0); turn++) {
      for (const commands of accounts) {
        const command = commands.shift();
        if (command) await writer.execute(command, testContext);
      }
      // Streams that are not accounts sit between theirs.
      if (turn % 40 === 0) await store.appendToStream(`audit-note-${turn}`, [{ id: randomUUID(), type: 'Note', data: { turn } }], { expectedRevision: 'any' });
    }
  });

  afterAll(async () => {
    await writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const catchUp = async (after: bigint) => {
    const events: ProjectedEvent[] = [];
    for (const row of await store.readAllText(after, 1_000)) {
      const projected = projectStoredEvent(row);
      if (projected) events.push(projected);
    }
    return events;
  };

  async function* history(): AsyncGenerator<ProjectedEvent[]> {
    for (let after = -1n; ; ) {
      const rows = await store.readAllText(after, 1_000);
      if (rows.length === 0) return;
      yield rows.flatMap((row) => projectStoredEvent(row) ?? []);
      after = rows[rows.length - 1]!.position;
    }
  }

  /** Every document of every projection, with its position and index value, as the active tables hold them. */
  const contentsOf = (readModels: SqliteReadModelStore) =>
    Object.fromEntries(LEDGER_PROJECTIONS.map((projection) => [projection.name, [...readModels.entries(projection.name)]]));

  /** What a replay in the store's global order, in this thread, makes of the history as it is now. */
  const replayedInOrder = async (name: string) => {
    const inOrder = SqliteReadModelStore.open(join(dir, `${name}.sqlite`));
    await inOrder.rebuild(LEDGER_PROJECTIONS, history(), catchUp);
    const contents = contentsOf(inOrder);
    inOrder.close();
    return contents;
  };

  /**
   * A replay as `ledger replay` runs it: the history up to `head` folded in threads, what came after it
   * caught up here, then the swap. Resolves with the events folded in the threads and in all.
   */
  const replayedInThreads = async (
    name: string,
    head: bigint,
    fold: { threads: number; maxCachedDocs: number; pageSize: number; onProgress?: (events: number, rows: number) => void },
  ) => {
    const file = join(dir, `${name}.sqlite`);
    const readModels = SqliteReadModelStore.open(file);
    try {
      const rebuild = readModels.beginRebuild(LEDGER_PROJECTIONS);
      const inThreads = await foldInParallel({
        eventsFile: store.file,
        readModelsFile: file,
        projections: LEDGER_PROJECTIONS,
        tables: rebuild.tables,
        upTo: head,
        ranges: await store.streamRanges(head, fold.threads),
        maxCachedDocs: fold.maxCachedDocs,
        pageSize: fold.pageSize,
        ...(fold.onProgress ? { onProgress: fold.onProgress } : {}),
      });
      rebuild.writtenElsewhere(inThreads, head);
      const { events } = await rebuild.finish(catchUp);
      return { inThreads, events, contents: contentsOf(readModels) };
    } finally {
      readModels.close();
    }
  };

  it('gives every projection the documents a replay in global order gives, whatever the threads, cache and pages', async () => {
    const expected = await replayedInOrder('in-order');
    expect(expected['usage']!.length).toBeGreaterThan(100);

    const head = (await store.headPosition())!.commit;
    for (const [threads, maxCachedDocs, pageSize] of [
      [1, 250_000, 500],
      [2, 40, 7],
      [3, 6, 1],
      [2, 1_000, 64],
    ] as const) {
      const { contents } = await replayedInThreads(`parallel-${threads}-${maxCachedDocs}-${pageSize}`, head, { threads, maxCachedDocs, pageSize });
      expect(contents).toEqual(expected);
    }
  });

  it('leaves what was appended after the position it folded to for the catch-up, in order', async () => {
    const head = (await store.headPosition())!.commit;
    for (let i = 0; i < 30; i++) await writer.execute({ type: 'ChargeRecords', accountId: `team-${String((i * 7919) % 1000).padStart(3, '0')}`, requestId: `late-${i}`, endpoint: 'job_search', records: 2, allowPartial: false }, testContext);
    const expected = await replayedInOrder('in-order-late');

    const progress: [number, number][] = [];
    const replayed = await replayedInThreads('parallel-late', head, { threads: 2, maxCachedDocs: 50, pageSize: 50, onProgress: (events, rows) => progress.push([events, rows]) });
    // Every row up to the head read once, the accounts' events among them folded once.
    expect(progress.at(-1)).toEqual([replayed.inThreads, Number(head)]);
    expect(replayed.inThreads).toBeLessThan(Number(head));
    expect(replayed.events).toBe(replayed.inThreads + 30);
    expect(replayed.contents).toEqual(expected);
  });
});
