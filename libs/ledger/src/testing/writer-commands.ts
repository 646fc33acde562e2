import type { CommandContext } from '../events/event-metadata.js';
import type { SubmittedCommand } from '../write-path/credit-account.writer.js';

/** What the write-path tests submit: a paid purchase of API credits, and charges for job records. */
export const testContext: CommandContext = { correlationId: 'corr-1', actor: 'test-suite' };

export function purchase(accountId: string, credits: number, purchaseId = `p-${credits}`): SubmittedCommand {
  return { type: 'PurchaseCredits', accountId, purchaseId, creditType: 'api', credits, paid: true, amountMinor: 100, currency: 'USD' };
}

export function charge(accountId: string, requestId: string, records = 1): SubmittedCommand {
  return { type: 'ChargeRecords', accountId, requestId, endpoint: 'job_search', records, allowPartial: false };
}
