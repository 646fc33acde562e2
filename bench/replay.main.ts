import { existsSync, rmSync } from 'node:fs';
import { REPLAY_SIZES, measureReplay, replayBench } from './replay.bench.js';
import { seedLedgerHistory } from './ledger-history.seed.js';

/**
 * The replay bench alone: `node dist/bench/replay.main.js [--quick | --events N]`, or, to profile the
 * replay without the seeding, `--file events.sqlite [--events N] [--threads N]` (seeded on the first run, kept).
 */
const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const total = arg('--events');
const sizes = total ? { ...REPLAY_SIZES.full, total: Number(total) } : process.argv.includes('--quick') ? REPLAY_SIZES.quick : REPLAY_SIZES.full;
const file = arg('--file');
if (file) {
  if (!existsSync(file)) console.log(JSON.stringify(await seedLedgerHistory(file, sizes)));
  const readModels = `${file}.read-models`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(readModels + suffix, { force: true });
  const threads = arg('--threads');
  const { events, seconds } = await measureReplay(file, readModels, threads === undefined ? undefined : Number(threads));
  console.log(JSON.stringify({ events, seconds, eventsPerSecond: Math.round(events / seconds) }));
} else {
  for (const figure of await replayBench(sizes)) console.log(JSON.stringify(figure));
}
