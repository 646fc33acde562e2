import { canonicalJson, evolve, initialState } from '#domain';
import type { EventStore } from '#event-store';
import { applyToDocs, type AccountBalanceDoc, type Projection, type SqliteReadModelStore, type StoredDoc } from '#ledger';
import { accountHistory } from './ledger-history.js';
import type { SnapshotChecks } from './snapshot-checks.js';

/** Differences listed at most; the rest are counted as one line. */
export const MAX_LISTED = 200;

/** Differences, the first `MAX_LISTED` of them, and how many more there were. */
export class DifferenceList {
  readonly listed: string[] = [];
  /** Differences found past the first `MAX_LISTED`. */
  unlisted = 0;

  add(message: string): void {
    if (this.listed.length < MAX_LISTED) this.listed.push(message);
    else this.unlisted += 1;
  }

  /** Another list's differences, after these. */
  addAll(other: { readonly differences: readonly string[]; readonly unlisted: number }): void {
    for (const message of other.differences) this.add(message);
    this.unlisted += other.unlisted;
  }

  /** What to show: the listed ones, and a last line when there were more. */
  lines(): string[] {
    return this.unlisted === 0 ? this.listed : [...this.listed, '… more differences not listed'];
  }
}

/** What verifying some of the accounts found. */
export interface VerifiedAccounts {
  readonly events: number;
  readonly snapshots: number;
  readonly snapshotRows: number;
  readonly foreignSnapshots: number;
  readonly differences: readonly string[];
  /** Differences found past the first `MAX_LISTED`. */
  readonly unlisted: number;
  /** For each projection, the keys of the documents the events produce, to find those they do not. */
  readonly produced: readonly (readonly string[])[];
}

/**
 * Verifies accounts one at a time (see `verify`): folds the account's stream, checks each event against
 * the rules and each stored snapshot row against the fold, then compares the account's documents, folded
 * from its events up to each projection's checkpoint, with the read models.
 */
export class AccountVerifier {
  private readonly differences = new DifferenceList();
  private readonly stored;
  private readonly balances;
  private readonly produced: Set<string>[];
  private readonly differ = (message: string) => this.differences.add(message);
  private eventsFolded = 0;

  constructor(
    private readonly store: EventStore,
    readModels: SqliteReadModelStore,
    private readonly projections: readonly Projection<unknown>[],
    /** Each projection's position, read once for the whole verification. */
    private readonly checkpoints: readonly bigint[],
    /** The balances read model's position: an account's lots are compared once it has reached them. */
    private readonly balancesAt: bigint,
    private readonly snapshotChecks: SnapshotChecks | undefined,
  ) {
    this.stored = projections.map((p) => readModels.lookup(p.name));
    this.balances = readModels.lookup('balances');
    this.produced = projections.map(() => new Set<string>());
  }

  async verify(accountId: string): Promise<void> {
    const { projections, checkpoints, differ } = this;
    const state = initialState();
    const docs = projections.map(() => new Map<string, StoredDoc<unknown> | undefined>());
    const charged = new Set<string>();
    const snapshot = await this.snapshotChecks?.forAccount(accountId);
    let last = -1n;
    for await (const page of accountHistory(this.store, accountId)) {
      for (const projected of page) {
        this.eventsFolded += 1;
        const { event, position, revision } = projected;
        const where = `${accountId}@${revision} (${event.type})`;
        try {
          evolve(state, event);
        } catch (error) {
          differ(`${where}: the events contradict the rules: ${error instanceof Error ? error.message : String(error)}`);
        }
        snapshot?.check(revision, state, differ);
        last = position;
        if (event.type === 'RecordsReturned' || event.type === 'WebhookDispatched' || event.type === 'CompanyRevealed') {
          const allocated = event.data.allocations.reduce((sum, a) => sum + a.credits, 0);
          if (allocated !== event.data.credits) differ(`${where}: allocations add up to ${allocated}, not ${event.data.credits}`);
          const key =
            event.type === 'RecordsReturned'
              ? `request:${event.data.requestId}`
              : event.type === 'WebhookDispatched'
                ? `webhook:${event.data.webhookEventId}`
                : `reveal:${event.data.requestId}:${event.data.companyId}`;
          if (charged.has(key)) differ(`${where}: ${key} was charged twice`);
          charged.add(key);
        }
        projections.forEach((projection, i) => {
          if (position <= checkpoints[i]!) applyToDocs(projection, docs[i]!, projected);
        });
      }
    }
    snapshot?.finish(differ);
    projections.forEach((projection, i) => this.compareDocs(projection, i, docs[i]!));
    if (last <= this.balancesAt) this.compareLots(accountId, state.lots.values());
  }

  /** Events folded so far. */
  get events(): number {
    return this.eventsFolded;
  }

  /** What was found so far. */
  result(): VerifiedAccounts {
    return {
      events: this.eventsFolded,
      snapshots: this.snapshotChecks?.snapshots ?? 0,
      snapshotRows: this.snapshotChecks?.rows ?? 0,
      foreignSnapshots: this.snapshotChecks?.foreign ?? 0,
      differences: this.differences.listed,
      unlisted: this.differences.unlisted,
      produced: this.produced.map((keys) => [...keys]),
    };
  }

  private compareDocs(projection: Projection<unknown>, i: number, docs: Map<string, StoredDoc<unknown> | undefined>): void {
    for (const [key, want] of docs) {
      // A document the events deleted is not produced: if the read model holds it, its keys show it.
      if (!want) continue;
      this.produced[i]!.add(key);
      const row = this.stored[i]?.(key);
      if (!row) {
        this.differ(`${projection.name}[${key}]: missing from the read model`);
        continue;
      }
      const doc: unknown = JSON.parse(row.docText);
      // The same text is the same document; other text may still be it, with its keys in another order.
      if (JSON.stringify(want.doc) !== row.docText && canonicalJson(want.doc) !== canonicalJson(doc)) {
        this.differ(`${projection.name}[${key}]: read model ${canonicalJson(doc)} but the events say ${canonicalJson(want.doc)}`);
      }
      // The index is what queries like the expiry sweep's read instead of the documents.
      const wantIndexed = projection.indexOf ? (projection.indexOf(doc) ?? null) : undefined;
      if (row.indexed !== wantIndexed) this.differ(`${projection.name}[${key}]: indexed at ${row.indexed} but its document says ${wantIndexed}`);
    }
  }

  /**
   * The account's open lots in the balances read model, which has reached its last event: each lot the
   * events leave credits in (the state holds no other), with what they leave, and no other.
   */
  private compareLots(accountId: string, lots: Iterable<{ readonly purchaseId: string; readonly remaining: number }>): void {
    const row = this.balances?.(accountId);
    const shown = new Map((row ? (JSON.parse(row.docText) as AccountBalanceDoc).lots : []).map((lot) => [lot.purchaseId, lot.remaining]));
    for (const lot of lots) {
      if (lot.remaining < 0) this.differ(`${accountId}: lot ${lot.purchaseId} is below zero (${lot.remaining})`);
      const remaining = shown.get(lot.purchaseId);
      shown.delete(lot.purchaseId);
      if (remaining === undefined) this.differ(`balances[${accountId}]: lot ${lot.purchaseId} is missing`);
      else if (remaining !== lot.remaining) {
        this.differ(`balances[${accountId}]: lot ${lot.purchaseId} shows ${remaining} remaining, the events leave ${lot.remaining}`);
      }
    }
    for (const [purchaseId, remaining] of shown) {
      this.differ(`balances[${accountId}]: lot ${purchaseId} shows ${remaining} remaining, the events leave no credits in such a lot`);
    }
  }
}
