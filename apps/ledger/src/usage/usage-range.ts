import { IsString, Matches } from 'class-validator';
import { isValidTimeZone, localDateOf, MAX_USAGE_DAYS } from '#ledger';
import { validationProblem, type FieldProblem } from '../problems/problem.js';
import { OptionalField } from '../credit-accounts/shared/validation.js';

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
export const DEFAULT_USAGE_DAYS = 30;

export class UsageRangeDto {
  @OptionalField()
  @Matches(DATE, { message: 'from must be a date, YYYY-MM-DD' })
  from?: string;

  @OptionalField()
  @Matches(DATE, { message: 'to must be a date, YYYY-MM-DD' })
  to?: string;

  /** An IANA time zone such as Europe/Madrid; days are calendar days there. */
  @OptionalField()
  @IsString()
  timezone?: string;
}

function isRealDate(date: string): boolean {
  return new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) === date;
}

/**
 * The range the usage page shows: the dates asked for, or the last 30 days up to today in the zone.
 * Refused with every problem listed: an unknown zone, an impossible date, from after to, over a year.
 */
export function resolveUsageRange(query: UsageRangeDto, now: number): { from: string; to: string; timezone: string } {
  const timezone = query.timezone ?? 'UTC';
  const problems: FieldProblem[] = [];
  if (!isValidTimeZone(timezone)) problems.push({ field: 'timezone', message: 'must be an IANA time zone such as UTC or Europe/Madrid' });
  for (const field of ['from', 'to'] as const) {
    const value = query[field];
    if (value !== undefined && !isRealDate(value)) problems.push({ field, message: `${value} is not a calendar date` });
  }
  if (problems.length > 0) throw validationProblem(problems);

  const to = query.to ?? localDateOf(now, timezone);
  const from = query.from ?? shiftDays(to, -(DEFAULT_USAGE_DAYS - 1));
  if (from > to) throw validationProblem([{ field: 'from', message: `must not be after to (${to})` }]);
  if (daysBetween(from, to) + 1 > MAX_USAGE_DAYS) {
    throw validationProblem([{ field: 'from', message: `the range may span at most ${MAX_USAGE_DAYS} days` }]);
  }
  return { from, to, timezone };
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

function shiftDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}
