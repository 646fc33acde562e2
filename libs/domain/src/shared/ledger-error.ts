/**
 * Expected failures of the ledger. Each has a stable `code` that callers can branch on and the data a
 * caller needs; the HTTP layer maps codes to statuses. Nothing here knows about HTTP.
 */
export type LedgerErrorCode =
  | 'CREDITS_INSUFFICIENT'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'OCCURRED_AT_BEFORE_LATEST_EVENT'
  | 'ACCOUNT_NOT_FOUND'
  | 'INVALID_COMMAND'
  | 'PURCHASE_NOT_FOUND'
  | 'REFUND_NOT_ALLOWED'
  | 'AUTO_RECHARGE_NOT_FOUND'
  | 'AUTO_RECHARGE_NOT_PENDING';

export class LedgerError extends Error {
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'LedgerError';
  }
}

export function insufficientCredits(
  creditType: string,
  required: number,
  available: number,
  extra: Record<string, unknown> = {},
): LedgerError {
  return new LedgerError(
    'CREDITS_INSUFFICIENT',
    `${required} ${creditType} credits are required but ${available} are available`,
    { creditType, required, available, ...extra },
  );
}

export function idempotencyKeyReused(keyName: string, key: string): LedgerError {
  return new LedgerError(
    'IDEMPOTENCY_KEY_REUSED',
    `${keyName} "${key}" was already used with a different payload`,
    { [keyName]: key },
  );
}

export function occurredBeforeLatestEvent(occurredAt: string, latestEventAt: string): LedgerError {
  return new LedgerError(
    'OCCURRED_AT_BEFORE_LATEST_EVENT',
    `occurredAt ${occurredAt} is before the account's latest event (${latestEventAt}); time never goes backwards within an account`,
    { occurredAt, latestEventAt },
  );
}

export function accountNotFound(accountId: string): LedgerError {
  return new LedgerError('ACCOUNT_NOT_FOUND', `Account ${accountId} has no credits history`, { accountId });
}

export interface InvalidField {
  readonly field: string;
  readonly message: string;
}

export function invalidCommand(fields: readonly InvalidField[]): LedgerError {
  return new LedgerError('INVALID_COMMAND', fields.map((f) => `${f.field}: ${f.message}`).join('; '), {
    fields,
  });
}

export function purchaseNotFound(purchaseId: string): LedgerError {
  return new LedgerError('PURCHASE_NOT_FOUND', `The account has no purchase ${purchaseId}`, { purchaseId });
}

export type RefundRefusalReason = 'not_paid' | 'credits_consumed' | 'refund_window_passed' | 'already_expired';

export function refundNotAllowed(purchaseId: string, reason: RefundRefusalReason, message: string, extra: Record<string, unknown> = {}): LedgerError {
  return new LedgerError('REFUND_NOT_ALLOWED', message, { purchaseId, reason, ...extra });
}

export function autoRechargeNotFound(autoRechargeId: string): LedgerError {
  return new LedgerError('AUTO_RECHARGE_NOT_FOUND', `The account has no auto-recharge request ${autoRechargeId}`, { autoRechargeId });
}

export function autoRechargeNotPending(autoRechargeId: string, status: string): LedgerError {
  return new LedgerError('AUTO_RECHARGE_NOT_PENDING', `Auto-recharge request ${autoRechargeId} is ${status}, not pending`, {
    autoRechargeId,
    status,
  });
}
