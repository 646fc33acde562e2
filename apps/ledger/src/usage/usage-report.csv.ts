import { USAGE_SOURCES, type UsageDay, type UsageReport } from '#ledger';
import { everyDayOf } from './usage-page.renderer.js';

export const USAGE_CSV_HEADER = [
  'date',
  'api_credits',
  'company_credits',
  ...USAGE_SOURCES,
  'requests',
  'webhook_dispatched',
  'webhook_not_triggered',
] as const;

/**
 * The usage report as CSV (rule 12): one row per calendar day of the range, in the report's time zone,
 * then a `total` row. RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break.
 * The days are the page's days, zeros included, so a spreadsheet and the chart never disagree.
 */
export function usageReportCsv(report: UsageReport): string {
  const rows = [
    [...USAGE_CSV_HEADER],
    ...everyDayOf(report).map((day) => [day.date, ...figures(day)]),
    ['total', ...figures(report.totals)],
  ];
  return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function figures(day: Omit<UsageDay, 'date'>): string[] {
  return [
    day.credits.api,
    day.credits.company,
    ...USAGE_SOURCES.map((source) => day.bySource[source]),
    day.requests,
    day.webhookEvents.dispatched,
    day.webhookEvents.not_triggered,
  ].map(String);
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
