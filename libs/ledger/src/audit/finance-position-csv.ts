import { csvDocument } from './csv.js';
import type { BreakageLotLine, FinanceLotLine } from './finance-position.js';

const LOT_COLUMNS = [
  'account_id',
  'purchase_id',
  'credit_type',
  'credits',
  'remaining',
  'purchased_at',
  'expires_at',
  'amount_minor',
  'currency',
  'invoice_id',
  'remaining_value_minor',
] as const;

function lotValues(line: FinanceLotLine) {
  return [
    line.accountId,
    line.purchaseId,
    line.creditType,
    line.credits,
    line.remaining,
    line.purchasedAt,
    line.expiresAt,
    line.amountMinor,
    line.currency,
    line.invoiceId,
    line.remainingValueMinor,
  ];
}

/** One line per lot; the totals are the sums of these lines per currency (and credit type). */
export function liabilityCsv(lines: readonly FinanceLotLine[]): string {
  return csvDocument(LOT_COLUMNS, lines.map(lotValues));
}

export function breakageCsv(lines: readonly BreakageLotLine[]): string {
  return csvDocument([...LOT_COLUMNS, 'expiry_recorded'], lines.map((line) => [...lotValues(line), line.expiryRecorded]));
}
