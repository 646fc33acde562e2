import type { Instant } from '#domain';
import type { ExpirySweepAnswer } from '#domain';
import { readAllPages, type SqliteReadModelStore } from '../projections/read-model-store.js';
import type { CreditAccountWriter } from '../write-path/credit-account.writer.js';

export interface ExpirySweepReport {
  readonly accounts: number;
  readonly lots: number;
  readonly credits: number;
  readonly failures: readonly { readonly accountId: string; readonly error: string }[];
}

/**
 * Accounts that, as far as the balances read model knows, hold a lot whose expiry passed unrecorded. They
 * come from the balances' index of next expiries, so the search reads only them, a page at a time with a
 * turn of the event loop between pages: the thread also answers requests.
 */
export async function accountsWithExpiredLots(readModels: SqliteReadModelStore, now: Instant, pageSize = 1_000): Promise<string[]> {
  const due = await readAllPages((limit, after) => readModels.indexed('balances', { upTo: now }, limit, after), pageSize);
  return due.map(({ key }) => key);
}

/**
 * Makes breakage visible to finance without waiting for the account's next command: every account with
 * an expired, unrecorded remainder gets a `SweepExpiries` command through the write path. Each expiry is
 * recorded once, at its own expiry instant: a sweep finds nothing left to record, and two instances
 * sweeping together are settled by the stream's expected revision. Balances never waited for this.
 */
export async function sweepExpiries(
  writer: CreditAccountWriter,
  accounts: Iterable<string>,
  actor: string,
  concurrency = 64,
): Promise<ExpirySweepReport> {
  const queue = [...accounts];
  let lots = 0;
  let credits = 0;
  let swept = 0;
  const failures: { accountId: string; error: string }[] = [];
  const lane = async () => {
    for (let accountId = queue.shift(); accountId !== undefined; accountId = queue.shift()) {
      try {
        const { answer } = await writer.execute({ type: 'SweepExpiries', accountId }, { correlationId: `expiry-sweep-${accountId}`, actor });
        const { expired } = answer as ExpirySweepAnswer;
        if (expired.length > 0) swept += 1;
        lots += expired.length;
        credits += expired.reduce((sum, lot) => sum + lot.credits, 0);
      } catch (error) {
        failures.push({ accountId, error: error instanceof Error ? error.message : String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { accounts: swept, lots, credits, failures };
}
