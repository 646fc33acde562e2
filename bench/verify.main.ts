import { SqliteEventStore } from '#event-store';
import { LEDGER_PROJECTIONS, SqliteReadModelStore } from '#ledger';
import { verify } from '../apps/ledger/src/cli/verify.command.js';

/**
 * `ledger verify` of an event store file and its read models, in a process of its own so that its peak
 * memory is its own: `node dist/bench/verify.main.js <events.sqlite> <read-models.sqlite>` prints one
 * JSON line.
 */
const [eventsFile, readModelsFile] = process.argv.slice(2);
if (!eventsFile || !readModelsFile) throw new Error('usage: verify.main.js <events.sqlite> <read-models.sqlite>');
const store = SqliteEventStore.open(eventsFile);
const readModels = SqliteReadModelStore.open(readModelsFile);
try {
  const started = process.hrtime.bigint();
  const report = await verify(store, readModels, LEDGER_PROJECTIONS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Kilobytes, for the whole process: every thread's heap is in it.
  const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ events: report.events, accounts: report.accounts, documents: report.documents, differences: report.differences.length, seconds, peakRssMiB }));
} finally {
  readModels.close();
  await store.close();
}
