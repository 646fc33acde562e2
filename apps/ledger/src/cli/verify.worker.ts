import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '#event-store';
import { LEDGER_PROJECTIONS, SqliteAccountSnapshots, SqliteReadModelStore } from '#ledger';
import { AccountVerifier } from './account-verifier.js';
import { SnapshotChecks } from './snapshot-checks.js';
import type { VerifyShardMessage, VerifyShardTask } from './verify.command.js';

// One thread of a verification: the accounts it is given, each folded and compared as `verify` does.

async function run(task: VerifyShardTask): Promise<VerifyShardMessage> {
  const store = SqliteEventStore.open(task.eventsFile);
  const readModels = SqliteReadModelStore.open(task.readModelsFile);
  const snapshots = task.snapshotsFile === undefined ? undefined : SqliteAccountSnapshots.open(task.snapshotsFile);
  try {
    const projections = task.projections.map((name) => LEDGER_PROJECTIONS.find((p) => p.name === name)!);
    const checks = snapshots && new SnapshotChecks(snapshots, store);
    const verifier = new AccountVerifier(store, readModels, projections, task.checkpoints, task.balancesAt, checks);
    for (const accountId of task.accounts) await verifier.verify(accountId);
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
