import { Worker } from 'node:worker_threads';
import { accountIdOfStream } from '#domain';
import { compiledWorkerScript, sharedWithThreads, SqliteEventStore, type EventStore } from '#event-store';
import { canRebuildInParallel, defaultRebuildThreads, LEDGER_STREAM_PREFIX, type Projection, type SqliteReadModelStore } from '#ledger';
import { AccountVerifier, DifferenceList, type VerifiedAccounts } from './account-verifier.js';
import { SnapshotChecks, type StoredSnapshotRows } from './snapshot-checks.js';

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

export interface VerifyOptions {
  /** Threads to verify in (embedded store, built), `defaultRebuildThreads()` unless given; 1: this thread. */
  readonly threads?: number;
  /** The file of `snapshots`, for threads to open. Without it, snapshots are checked in this thread. */
  readonly snapshotsFile?: string;
  /** Told, now and then and at the end, how many of the accounts are verified and with how many events. */
  readonly onProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyProgress {
  readonly accounts: number;
  readonly of: number;
  readonly events: number;
}

export interface VerifyShardTask {
  readonly eventsFile: string;
  readonly readModelsFile: string;
  readonly snapshotsFile: string | undefined;
  readonly projections: readonly string[];
  readonly checkpoints: readonly bigint[];
  readonly balancesAt: bigint;
  readonly accounts: readonly string[];
}

export type VerifyShardMessage =
  | { readonly kind: 'progress'; readonly accounts: number; readonly events: number }
  | { readonly kind: 'done'; readonly verified: VerifiedAccounts }
  | { readonly kind: 'failed'; readonly message: string };

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
 *
 * It goes account by account, reading each one's stream: every projection's documents belong to one
 * account, so an account's documents are complete once its stream is folded, and are compared then. What
 * it holds at once is one account's state and documents, and the keys of every document the events
 * produce (to find the documents they do not), not the history. On the embedded store the accounts are
 * shared out between worker threads.
 */
export async function verify(
  store: EventStore,
  readModels: SqliteReadModelStore,
  projections: readonly Projection<unknown>[],
  snapshots?: StoredSnapshotRows,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const checkpoints = projections.map((p) => readModels.active(p.name)?.position ?? -1n);
  const balancesAt = readModels.active('balances')?.position ?? -1n;
  const accounts = await ledgerAccounts(store);
  const threads = Math.min(options.threads ?? defaultRebuildThreads(), accounts.length);
  const script = compiledWorkerScript(import.meta.url, 'verify.worker');
  const progress = progressOf(accounts.length, options.onProgress);
  let parts: readonly VerifiedAccounts[];
  if (
    threads > 1 &&
    script &&
    store instanceof SqliteEventStore &&
    sharedWithThreads(store.file) &&
    sharedWithThreads(readModels.file) &&
    (snapshots === undefined || options.snapshotsFile !== undefined) &&
    canRebuildInParallel(projections)
  ) {
    const task = { eventsFile: store.file, readModelsFile: readModels.file, snapshotsFile: snapshots && options.snapshotsFile, projections: projections.map((p) => p.name), checkpoints, balancesAt };
    parts = await verifyInThreads(script, task, accounts, threads, progress);
  } else {
    const verifier = new AccountVerifier(store, readModels, projections, checkpoints, balancesAt, snapshots && new SnapshotChecks(snapshots, store));
    for (const [i, accountId] of accounts.entries()) {
      await verifier.verify(accountId);
      progress.update(i + 1, verifier.events);
    }
    parts = [verifier.result()];
  }

  const differences = new DifferenceList();
  for (const part of parts) differences.addAll(part);
  let foreignSnapshots = parts.reduce((sum, part) => sum + part.foreignSnapshots, 0);
  // Snapshots of accounts without a stream here belong to other history too.
  if (snapshots) {
    const verified = new Set(accounts);
    for (const accountId of snapshots.snapshotAccountIds()) if (!verified.has(accountId)) foreignSnapshots += 1;
  }

  let documents = 0;
  projections.forEach((projection, i) => {
    const produced = new Set(parts.flatMap((part) => part.produced[i]!));
    for (const key of readModels.keys(projection.name)) {
      documents += 1;
      if (!produced.has(key)) differences.add(`${projection.name}[${key}]: in the read model but no event produces it`);
    }
  });

  const events = parts.reduce((sum, part) => sum + part.events, 0);
  progress.done(events);
  return {
    events,
    accounts: accounts.length,
    documents,
    snapshots: parts.reduce((sum, part) => sum + part.snapshots, 0),
    snapshotRows: parts.reduce((sum, part) => sum + part.snapshotRows, 0),
    foreignSnapshots,
    differences: differences.lines(),
  };
}

/** Progress as the accounts are verified, and at the end (whoever shows it decides how often). */
function progressOf(of: number, onProgress: ((progress: VerifyProgress) => void) | undefined) {
  return {
    update: (accounts: number, events: number): void => onProgress?.({ accounts, of, events }),
    done: (events: number): void => onProgress?.({ accounts: of, of, events }),
  };
}

/** How often a verification thread tells its progress. */
export const PROGRESS_MS = 100;

/**
 * The accounts shared out, in turn, between `threads` worker threads (so that a run of large accounts next
 * to each other in id order is shared out too), each verifying its share with connections of its own.
 */
async function verifyInThreads(
  script: URL,
  task: Omit<VerifyShardTask, 'accounts'>,
  accounts: readonly string[],
  threads: number,
  progress: ReturnType<typeof progressOf>,
): Promise<VerifiedAccounts[]> {
  const shares = Array.from({ length: threads }, (_, shard) => accounts.filter((_, i) => i % threads === shard));
  const done = shares.map(() => ({ accounts: 0, events: 0 }));
  const workers: Worker[] = [];
  try {
    return await Promise.all(
      shares.map(
        (share, shard) =>
          new Promise<VerifiedAccounts>((resolve, reject) => {
            const worker = new Worker(script, { workerData: { ...task, accounts: share } satisfies VerifyShardTask });
            workers.push(worker);
            let verified: VerifiedAccounts | undefined;
            worker.on('message', (message: VerifyShardMessage) => {
              if (message.kind === 'progress') {
                done[shard] = message;
                progress.update(done.reduce((sum, d) => sum + d.accounts, 0), done.reduce((sum, d) => sum + d.events, 0));
              } else if (message.kind === 'done') verified = message.verified;
              else reject(new Error(`a verification thread failed: ${message.message}`));
            });
            worker.once('error', reject);
            worker.once('exit', (code) => (verified ? resolve(verified) : reject(new Error(`a verification thread exited with ${code}`))));
          }),
      ),
    );
  } finally {
    // One that failed leaves the others nothing to do.
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/**
 * The ledger's accounts, from the store's list of streams where it has one, or else from one read of
 * `$all`: every account with at least one event, each once.
 */
export async function ledgerAccounts(store: EventStore): Promise<readonly string[]> {
  if (store.streamIds) return (await store.streamIds(LEDGER_STREAM_PREFIX)).map((streamId) => accountIdOfStream(streamId)!);
  const accounts = new Set<string>();
  for await (const recorded of store.readAll()) {
    const accountId = accountIdOfStream(recorded.streamId);
    if (accountId !== undefined) accounts.add(accountId);
  }
  return [...accounts];
}
