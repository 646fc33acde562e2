import { decide, evolve, initialState, type CreditAccountCommand, type CreditAccountState } from '#domain';
import { fullCollection } from './full-collection.js';

/**
 * What the account states of a busy HTTP server hold for their idempotency entries, in a process of its
 * own so that its heap is theirs alone: `node dist/bench/idempotency-entries.main.js <accounts> <charges>`
 * decides and applies the charges round-robin over the accounts, as the write path does, and prints
 * one JSON line: the heap they added per entry, and the median time of a full collection of the heap.
 * The HTTP bench leaves about 175,000 entries on its server's heap, and each full collection of it held
 * the thread answering requests (docs/benchmarks.md).
 */
const [accounts = 100, charges = 175_000] = process.argv.slice(2).map(Number);
const collect = fullCollection();
const T0 = Date.parse('2026-11-01T00:00:00.000Z');

function apply(state: CreditAccountState, command: CreditAccountCommand): void {
  const decision = decide(command, state);
  if (decision.refusal) throw decision.refusal;
  for (const event of decision.events) evolve(state, event);
}

const states = Array.from({ length: accounts }, (_, a) => {
  const state = initialState();
  apply(state, { type: 'PurchaseCredits', accountId: `acct-${a}`, purchaseId: 'pack', creditType: 'api', credits: 1e9, paid: true, amountMinor: 100, currency: 'USD', occurredAt: T0 });
  return state;
});
collect();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < charges; i++) {
  const a = i % accounts;
  apply(states[a]!, { type: 'ChargeRecords', accountId: `acct-${a}`, requestId: `req-${i}`, endpoint: 'job_search', records: 1, allowPartial: false, occurredAt: T0 + 1_000 + i });
}
collect();
const bytes = process.memoryUsage().heapUsed - before;
const times: number[] = [];
for (let i = 0; i < 9; i++) {
  const started = performance.now();
  collect();
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const entries = states.reduce((sum, state) => sum + state.idempotency.size, 0);
console.log(JSON.stringify({ entries, bytesPerEntry: Math.round(bytes / charges), fullCollectionMs: Math.round(times[4]! * 10) / 10 }));
