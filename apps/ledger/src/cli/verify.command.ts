import { canonicalJson, evolve, initialState, type CreditAccountState } from '#domain';
import type { EventStore } from '#event-store';
import { applyToDocs, type AccountBalanceDoc, type Projection, type SqliteReadModelStore, type StoredAccountRows, type StoredDoc } from '#ledger';
import { ledgerHistory } from './ledger-history.js';
import { SnapshotChecks } from './snapshot-checks.js';

export interface VerifyReport {
  readonly events: number;
  readonly accounts: number;
  readonly documents: number;
  /** Account snapshots checked, and the idempotency-entry and reveal-window rows stored beside them. */
  readonly snapshots: number;
  readonly snapshotRows: number;
  /** Snapshots of other history (another event at their revision), which the writer ignores. */
  readonly foreignSnapshots: number;
  readonly differences: readonly string[];
}

const MAX_LISTED = 200;

/**
 * Replays the whole history in memory and proves that what the ledger shows equals what the events say:
 * - every event is consistent with the rules as the account's history stood (evolve refuses allocations
 *   from unknown lots or beyond a lot's remainder, so no balance ever went below zero);
 * - every charge's allocations add up to the credits it charged; no request or webhook event was charged
 *   twice;
 * - every read model, up to its checkpoint, holds exactly the documents the events produce;
 * - every account's lots in the balances read model hold what the events leave in them;
 * - every account snapshot the writer would load, and every idempotency entry and reveal window stored
 *   beside it, holds what the events say at the revision it is as of (`snapshots`: the stored rows).
 */
export async function verify(
  store: EventStore,
  readModels: SqliteReadModelStore,
  projections: readonly Projection<unknown>[],
  snapshots: Iterable<StoredAccountRows> = [],
): Promise<VerifyReport> {
  const differences: string[] = [];
  const differ = (message: string) => {
    if (differences.length < MAX_LISTED) differences.push(message);
    else if (differences.length === MAX_LISTED) differences.push('… more differences not listed');
  };
  const checkpoints = projections.map((p) => readModels.active(p.name)?.position ?? -1n);
  const docs = projections.map(() => new Map<string, StoredDoc<unknown> | undefined>());
  const states = new Map<string, CreditAccountState>();
  const lastPositionOf = new Map<string, bigint>();
  const charged = new Set<string>();
  const snapshotChecks = await SnapshotChecks.load(snapshots, store);
  let events = 0;

  for await (const batch of ledgerHistory(store)) {
    for (const projected of batch) {
      events += 1;
      const { accountId, event, position, revision } = projected;
      const where = `${accountId}@${revision} (${event.type})`;
      let state = states.get(accountId);
      if (!state) states.set(accountId, (state = initialState()));
      try {
        evolve(state, event);
      } catch (error) {
        differ(`${where}: the events contradict the rules: ${error instanceof Error ? error.message : String(error)}`);
      }
      snapshotChecks.check(accountId, revision, state, differ);
      lastPositionOf.set(accountId, position);
      if (event.type === 'RecordsReturned' || event.type === 'WebhookDispatched' || event.type === 'CompanyRevealed') {
        const allocated = event.data.allocations.reduce((sum, a) => sum + a.credits, 0);
        if (allocated !== event.data.credits) differ(`${where}: allocations add up to ${allocated}, not ${event.data.credits}`);
        const key =
          event.type === 'RecordsReturned'
            ? `request:${event.data.requestId}`
            : event.type === 'WebhookDispatched'
              ? `webhook:${event.data.webhookEventId}`
              : `reveal:${event.data.requestId}:${event.data.companyId}`;
        if (charged.has(`${accountId}|${key}`)) differ(`${where}: ${key} was charged twice`);
        charged.add(`${accountId}|${key}`);
      }
      projections.forEach((projection, i) => {
        if (position <= checkpoints[i]!) applyToDocs(projection, docs[i]!, projected);
      });
    }
  }

  snapshotChecks.finish(differ);

  let documents = 0;
  projections.forEach((projection, i) => {
    const expected = docs[i]!;
    const seen = new Set<string>();
    for (const { key, doc, indexed } of readModels.entries<unknown>(projection.name)) {
      documents += 1;
      seen.add(key);
      const want = expected.get(key);
      if (!want) differ(`${projection.name}[${key}]: in the read model but no event produces it`);
      else if (canonicalJson(want.doc) !== canonicalJson(doc)) {
        differ(`${projection.name}[${key}]: read model ${canonicalJson(doc)} but the events say ${canonicalJson(want.doc)}`);
      }
      // The index is what queries like the expiry sweep's read instead of the documents.
      const wantIndexed = projection.indexOf ? (projection.indexOf(doc) ?? null) : undefined;
      if (indexed !== wantIndexed) differ(`${projection.name}[${key}]: indexed at ${indexed} but its document says ${wantIndexed}`);
    }
    for (const [key, want] of expected) {
      if (want && !seen.has(key)) differ(`${projection.name}[${key}]: missing from the read model`);
    }
  });

  const balancesAt = readModels.active('balances')?.position ?? -1n;
  for (const [accountId, state] of states) {
    if ((lastPositionOf.get(accountId) ?? -1n) > balancesAt) continue; // the read model has not reached it yet
    const doc = readModels.get<AccountBalanceDoc>('balances', accountId)?.doc;
    for (const lot of state.lots.values()) {
      const shown = doc?.lots.find((l) => l.purchaseId === lot.purchaseId);
      if (!shown) differ(`balances[${accountId}]: lot ${lot.purchaseId} is missing`);
      else if (shown.remaining !== lot.remaining) {
        differ(`balances[${accountId}]: lot ${lot.purchaseId} shows ${shown.remaining} remaining, the events leave ${lot.remaining}`);
      }
      if (lot.remaining < 0) differ(`${accountId}: lot ${lot.purchaseId} is below zero (${lot.remaining})`);
    }
  }

  return {
    events,
    accounts: states.size,
    documents,
    snapshots: snapshotChecks.snapshots,
    snapshotRows: snapshotChecks.rows,
    foreignSnapshots: snapshotChecks.foreign,
    differences,
  };
}
