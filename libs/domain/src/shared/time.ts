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

export function instantOf(isoString: string): Instant {
  return Date.parse(isoString);
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
