import { Matches } from 'class-validator';
import { iso, type Instant } from '#domain';
import { validationProblem } from '../problems/problem.js';
import { IsInstant, OptionalField } from '../credit-accounts/shared/validation.js';
import type { Position } from '#event-store';
import { MAX_STORE_INTEGER, parsePosition } from '#ledger';

/**
 * Query parameters arrive as strings and are never coerced: each has an exact shape, checked by the
 * DTO (unknown or repeated parameters are refused there too), then turned into its value here.
 */
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;

const LIMIT = /^(?:[1-9]\d{0,2}|1000)$/;
const REVISION = /^(?:0|[1-9]\d{0,18})$/;
const POSITION = /^(?:0|[1-9]\d{0,18})(?::(?:0|[1-9]\d{0,18}))?$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

const IsPageSize = () => Matches(LIMIT, { message: `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}` });

export class AccountEventsQueryDto {
  /** The first revision of the page (inclusive). */
  @OptionalField()
  @Matches(REVISION, { message: 'from must be a stream revision: a whole number, 0 or more' })
  from?: string;

  @OptionalField()
  @IsPageSize()
  limit?: string;
}

export class LedgerEventsQueryDto {
  /** A position from a previous page's `next.after` (exclusive). */
  @OptionalField()
  @Matches(POSITION, { message: 'after must be a position given by this API, e.g. the previous page\'s next.after' })
  after?: string;

  @OptionalField()
  @IsPageSize()
  limit?: string;
}

export class StatementQueryDto {
  @IsInstant()
  from!: string;

  @IsInstant()
  to!: string;
}

export class FinancePositionQueryDto {
  /** A date (its end, in UTC) or an instant; defaults to now. */
  @OptionalField()
  @IsInstant()
  asOf?: string;
}

export function pageSizeOf(limit: string | undefined): number {
  return limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit);
}

export function revisionOf(from: string | undefined): bigint {
  if (from === undefined) return 0n;
  const revision = BigInt(from);
  if (revision > MAX_STORE_INTEGER) throw validationProblem([{ field: 'from', message: `must be at most ${MAX_STORE_INTEGER}` }]);
  return revision;
}

export function positionOf(after: string | undefined): Position | undefined {
  if (after === undefined) return undefined;
  const position = parsePosition(after);
  if (!position) throw validationProblem([{ field: 'after', message: `must be at most ${MAX_STORE_INTEGER}` }]);
  return position;
}

function notInTheFuture(field: string, instant: Instant, now: Instant, what = 'must not be in the future'): void {
  // A report of the future would silently assume that nothing happens until then.
  if (instant > now) throw validationProblem([{ field, message: `${what} (now is ${iso(now)})` }]);
}

export function statementPeriodOf(query: StatementQueryDto, now: Instant): { from: Instant; to: Instant } {
  const from = Date.parse(query.from);
  const to = Date.parse(query.to);
  if (from > to) throw validationProblem([{ field: 'from', message: `must not be after to (${iso(to)})` }]);
  notInTheFuture('to', to, now);
  return { from, to };
}

/**
 * `asOf` as an instant. A bare date means the end of that day in UTC: its last millisecond, so that
 * everything dated that day counts and a lot expiring at the next midnight is still outstanding.
 */
export function financeAsOf(query: FinancePositionQueryDto, now: Instant): Instant {
  if (query.asOf === undefined) return now;
  if (DATE_ONLY.test(query.asOf)) {
    const endOfDay = Date.parse(`${query.asOf}T00:00:00.000Z`) + 86_400_000 - 1;
    notInTheFuture('asOf', endOfDay, now, 'must be a day that has ended');
    return endOfDay;
  }
  const asOf = Date.parse(query.asOf);
  notInTheFuture('asOf', asOf, now);
  return asOf;
}
