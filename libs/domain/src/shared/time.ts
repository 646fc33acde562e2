/** Instants are epoch milliseconds inside the domain and ISO 8601 UTC strings inside events. */
export type Instant = number;

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

// Commands decided in the same millisecond share their timestamps: remember the last one formatted.
let lastInstant = Number.NaN;
let lastIso = '';

export function iso(instant: Instant): string {
  if (instant !== lastInstant) {
    lastIso = new Date(instant).toISOString();
    lastInstant = instant;
  }
  return lastIso;
}

/**
 * Epoch milliseconds of an ISO 8601 string. Events carry `toISOString()`'s form
 * (`2026-06-01T12:00:00.000Z`), which is read here by arithmetic: `Date.parse` took 4% of a replay.
 * Anything else, or a field out of range, goes to `Date.parse`, so the result is always what it gives.
 */
export function instantOf(isoString: string): Instant {
  if (!isCanonical(isoString)) return Date.parse(isoString);
  const year = digits(isoString, 0, 4);
  const month = digits(isoString, 5, 2);
  const day = digits(isoString, 8, 2);
  const hours = digits(isoString, 11, 2);
  const minutes = digits(isoString, 14, 2);
  const seconds = digits(isoString, 17, 2);
  const millis = digits(isoString, 20, 3);
  // A non-digit makes its field negative; Date.parse then decides (NaN, or its own reading).
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hours < 0 || hours > 23 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59 || millis < 0) {
    return Date.parse(isoString);
  }
  return (daysFromCivil(year, month, day) * 24 + hours) * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ` by its separators; the digits are checked as they are read. */
function isCanonical(text: string): boolean {
  return (
    text.length === 24 &&
    text.charCodeAt(4) === 45 && // -
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 84 && // T
    text.charCodeAt(13) === 58 && // :
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(19) === 46 && // .
    text.charCodeAt(23) === 90 // Z
  );
}

/** The number written by `count` digits from `from`, or a negative number if one is not a digit. */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`). A day past the
 * end of its month counts on into the next, as `Date.parse` does with `2026-02-30`.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

/**
 * Adds calendar months in UTC, clamping to the end of a shorter month, so that 2026-01-31 + 12 months
 * is 2027-01-31 and 2024-02-29 + 12 months is 2025-02-28. The time of day is kept.
 */
export function addCalendarMonths(instant: Instant, months: number): Instant {
  const d = new Date(instant);
  const totalMonths = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(totalMonths / 12);
  const monthIndex = totalMonths - year * 12;
  const day = Math.min(d.getUTCDate(), daysInMonth(year, monthIndex));
  return Date.UTC(
    year,
    monthIndex,
    day,
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
}
