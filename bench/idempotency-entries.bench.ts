import type { BenchFigure } from './bench-figure.js';
import { outputOfBenchProcess } from './bench-process.js';

/** The heap a charge's idempotency entry takes in an account state, and a full collection of them (`idempotency-entries.main.ts`). */
export async function idempotencyEntriesInMemory(accounts: number, charges: number): Promise<BenchFigure[]> {
  const stdout = await outputOfBenchProcess(new URL('./idempotency-entries.main.js', import.meta.url), [String(accounts), String(charges)]);
  const measured = JSON.parse(stdout.trim().split('\n').at(-1)!) as { entries: number; bytesPerEntry: number; fullCollectionMs: number };
  if (measured.entries < charges) throw new Error(`Only ${measured.entries} of ${charges} idempotency entries are in the account states`);
  const held = `${charges.toLocaleString('en')} charges' entries held by ${accounts} account states`;
  return [
    { bench: 'idempotency_entry_heap_bytes', value: measured.bytesPerEntry, unit: 'bytes', note: `heap a charge's entry adds, ${held}` },
    { bench: 'idempotency_entries_full_collection_ms', value: measured.fullCollectionMs, unit: 'ms', note: 'a full collection of a process holding them and little else, median of 9' },
  ];
}
