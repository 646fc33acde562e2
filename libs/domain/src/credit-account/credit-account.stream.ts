/**
 * One stream per account. The category is the part before the first dash, so it must hold no dash
 * itself: EventStoreDB's `$ce-creditAccount` then gathers every account's events.
 */
export const CREDIT_ACCOUNT_CATEGORY = 'creditAccount';

export function creditAccountStream(accountId: string): string {
  return `${CREDIT_ACCOUNT_CATEGORY}-${accountId}`;
}

export function accountIdOfStream(streamId: string): string | undefined {
  const prefix = `${CREDIT_ACCOUNT_CATEGORY}-`;
  return streamId.startsWith(prefix) ? streamId.slice(prefix.length) : undefined;
}

/** Account ids are opaque to the ledger but must make safe stream names and URLs. */
export const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
