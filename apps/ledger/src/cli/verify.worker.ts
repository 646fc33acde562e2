import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore, takeBackgroundCpus } from '#event-store';
import { LEDGER_PROJECTIONS, SqliteAccountSnapshots, SqliteReadModelStore } from '#ledger';
import { AccountVerifier } from './account-verifier.js';
import { SnapshotChecks } from './snapshot-checks.js';
import { PROGRESS_MS, type VerifyShardMessage, type VerifyShardTask } from './verify.command.js';

takeBackgroundCpus();

// One thread of a verification: the accounts it is given, each folded and compared as `verify` does.

async function run(task: VerifyShardTask): Promise<VerifyShardMessage> {
  const store = SqliteEventStore.open(task.eventsFile);
  const readModels = SqliteReadModelStore.open(task.readModelsFile);
  const snapshots = task.snapshotsFile === undefined ? undefined : SqliteAccountSnapshots.open(task.snapshotsFile);
  try {
    const projections = task.projections.map((name) => LEDGER_PROJECTIONS.find((p) => p.name === name)!);
    const checks = snapshots && new SnapshotChecks(snapshots, store);
    const verifier = new AccountVerifier(store, readModels, projections, task.checkpoints, task.balancesAt, checks);
    let told = 0;
    for (const [i, accountId] of task.accounts.entries()) {
      await verifier.verify(accountId);
      if (Date.now() - told < PROGRESS_MS) continue;
      told = Date.now();
      parentPort!.postMessage({ kind: 'progress', accounts: i + 1, events: verifier.events } satisfies VerifyShardMessage);
    }
    return { kind: 'done', verified: verifier.result() };
  } catch (error) {
    return { kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  } finally {
    readModels.close();
    await snapshots?.close();
    await store.close();
  }
}

parentPort!.postMessage(await run(workerData as VerifyShardTask));
