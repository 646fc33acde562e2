import { creditAccountStream, instantOf, occurredAtOf } from '#domain';
import { sharedWithThreads, StreamNotFoundError, type EventStore } from '#event-store';
import { decodeEvent } from '../events/event-codec.js';
import { AccountStatementFold, type AccountStatement, type StatementPeriod } from './account-statement.js';
import { ledgerEventData } from './audit-events.js';
import { FinancePositionFold } from './finance-position.js';
import { defaultRebuildThreads } from '../projections/parallel-rebuild.js';
import { financePositionScript, foldFinancePositionInThreads } from './finance-position.threads.js';

/**
 * An account's statement, folded from its stream. Within an account events are in time order, so the
 * read stops at the first event after the period. Undefined when the account has no stream.
 */
export async function readAccountStatement(
  store: EventStore,
  accountId: string,
  period: StatementPeriod,
): Promise<AccountStatement | undefined> {
  const fold = new AccountStatementFold(accountId, period);
  try {
    for await (const recorded of store.readStream(creditAccountStream(accountId))) {
      const event = decodeEvent(recorded);
      if (instantOf(occurredAtOf(event)) > period.to) break;
      fold.add({ event, revision: recorded.revision });
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
  return fold.finish();
}

/**
 * The liability and breakage fold over the whole of `$all`. It reads to the end: `$all` is in commit
 * order, and an account back-filled later has events dated before ones committed earlier, so the first
 * event after `asOf` does not mean every later one is after it too. The fold skips those itself.
 *
 * With `eventsFile` (the embedded store's file, which worker threads can open), the events up to the
 * head as it is now are folded in worker threads, a shard of accounts each (`foldFinancePositionInThreads`),
 * as many as a replay uses; otherwise, or before a build, here.
 */
export async function readFinancePosition(
  store: EventStore,
  asOf: number,
  options: { readonly eventsFile?: string; readonly threads?: number } = {},
): Promise<FinancePositionFold> {
  const script = options.eventsFile !== undefined && sharedWithThreads(options.eventsFile) ? financePositionScript() : undefined;
  if (script && options.eventsFile !== undefined) {
    const head = await store.headPosition();
    if (!head) return new FinancePositionFold(asOf);
    return foldFinancePositionInThreads(script, { eventsFile: options.eventsFile, asOf, upTo: head.commit, threads: options.threads ?? defaultRebuildThreads() });
  }
  const fold = new FinancePositionFold(asOf);
  for await (const page of ledgerEventData(store)) for (const event of page) fold.add(event);
  return fold;
}
