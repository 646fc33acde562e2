import { USAGE_SOURCES, type UsageDay, type UsageLot, type UsagePurchase, type UsageReport, type UsageSource } from '#ledger';

export interface UsagePageOptions {
  /** Where the range/time-zone form submits (GET), e.g. `/usage-page/acme`. */
  readonly formAction: string;
  /** The signed link's parameters (`exp`, `sig`), carried through the form so a new range stays authorised. */
  readonly hiddenFields: Record<string, string>;
  /** A link to the same range as CSV, when the caller serves one. */
  readonly csvHref?: string;
}

/**
 * The usage page (rule 12) as one self-contained HTML document: inline CSS, server-rendered SVG, no
 * script and nothing fetched from elsewhere, so it works from a signed link in any browser, prints, and
 * can be saved as a file. Every string taken from the report is escaped, whatever validation upstream did.
 * The page's URL carries a signature, so it asks for no Referer and no indexing.
 */
export function renderUsagePage(report: UsageReport, options: UsagePageOptions): string {
  const days = everyDayOf(report);
  const title = `Usage — ${report.accountId}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${esc(title)}</title>
<style>${STYLES}</style>
</head>
<body>
<main class="page">
${header(report, options)}
${rangeForm(report, options)}
${summaryCards(report)}
${creditsSection(report, days)}
<div class="grid-2">
${requestsSection(report, days)}
${webhooksSection(report, days)}
</div>
${balancesSection(report)}
${purchasesSection(report)}
${activitySection(report)}
${attributionSection(report)}
${dailyTableSection(report, days)}
<footer class="footnote">
  <p>Days are calendar days in <strong>${esc(report.timezone)}</strong>; times are shown in that zone.
  API and company credits are separate balances; credits are whole numbers.
  Generated ${esc(formatInstant(report.generatedAt, report.timezone))}.</p>
</footer>
</main>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------------
// Days

const DAY_MS = 86_400_000;
/** A guard against a malformed range turning into an endless page; ten years of days is plenty. */
const MAX_DAYS = 3_660;

const ZERO_DAY: Omit<UsageDay, 'date'> = {
  credits: { api: 0, company: 0 },
  bySource: { job_search: 0, company_search: 0, technographics: 0, webhooks: 0, reveals: 0, exports: 0 },
  requests: 0,
  webhookEvents: { dispatched: 0, not_triggered: 0 },
};

/**
 * Every calendar day from `from` to `to`, in order, with the report's figures or zeros. A projection
 * may leave out days on which nothing happened; the page and the CSV must still show them, or a quiet
 * day reads as a gap in the data.
 */
export function everyDayOf(report: UsageReport): UsageDay[] {
  const byDate = new Map(report.days.map((day) => [day.date, day]));
  const start = parseDate(report.from);
  const end = parseDate(report.to);
  if (start !== undefined && end !== undefined && start <= end && (end - start) / DAY_MS < MAX_DAYS) {
    for (let t = start; t <= end; t += DAY_MS) {
      const date = new Date(t).toISOString().slice(0, 10);
      if (!byDate.has(date)) byDate.set(date, { date, ...ZERO_DAY });
    }
  }
  return [...byDate.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}

function parseDate(date: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : t;
}

// ---------------------------------------------------------------------------------------------------
// Formatting

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/**
 * A count as en-US writes it (`1,234,567`). Whole numbers, which every count on the page is, are grouped
 * here: the Intl formatter was a seventh of the time a year's page took to render.
 */
export function num(value: number): string {
  if (!Number.isSafeInteger(value)) return integer.format(value);
  const digits = String(Math.abs(value));
  let grouped = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = grouped.length; i < digits.length; i += 3) grouped += `,${digits.slice(i, i + 3)}`;
  return value < 0 ? `-${grouped}` : grouped;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** `2026-03-07` → `Sat 7 Mar 2026`; calendar dates carry no zone, so no time-zone arithmetic here. */
function longDate(date: string): string {
  const t = parseDate(date);
  if (t === undefined) return date;
  const d = new Date(t);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

function shortDate(date: string): string {
  const t = parseDate(date);
  if (t === undefined) return date;
  const d = new Date(t);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
}

function rangeLabel(from: string, to: string): string {
  return `${longDate(from).slice(4)} – ${longDate(to).slice(4)}`;
}

const INSTANT_FORMAT: Intl.DateTimeFormatOptions = {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
};
const instantFormats = new Map<string, Intl.DateTimeFormat>();

/** An instant as the account's people read it: in the report's zone (UTC if the zone is unknown here). */
function formatInstant(instant: string, timezone: string): string {
  const t = Date.parse(instant);
  if (Number.isNaN(t)) return instant;
  try {
    return instantFormatIn(timezone).format(t);
  } catch {
    return `${instantFormatIn('UTC').format(t)} UTC`;
  }
}

// One per zone: making a formatter costs more than formatting with it.
function instantFormatIn(timezone: string): Intl.DateTimeFormat {
  let format = instantFormats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { ...INSTANT_FORMAT, timeZone: timezone });
    instantFormats.set(timezone, format);
  }
  return format;
}

/** Money is integer minor units; it is turned into a decimal string, never a float, before formatting. */
function formatMoney(amountMinor: number | undefined, currency: string | undefined): string {
  if (amountMinor === undefined || currency === undefined) return '—';
  try {
    const formatter = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    const digits = formatter.resolvedOptions().maximumFractionDigits ?? 2;
    const sign = amountMinor < 0 ? '-' : '';
    const minor = String(Math.abs(amountMinor)).padStart(digits + 1, '0');
    const decimal = digits === 0 ? minor : `${minor.slice(0, -digits)}.${minor.slice(-digits)}`;
    return formatter.format(`${sign}${decimal}` as Intl.StringNumericLiteral);
  } catch {
    return `${num(amountMinor)} ${currency} (minor units)`;
  }
}

const SOURCE_LABELS: Record<UsageSource, string> = {
  job_search: 'Job search',
  company_search: 'Company search',
  technographics: 'Technographics',
  webhooks: 'Webhooks',
  reveals: 'Reveals',
  exports: 'Exports',
};

/** Which balance each source draws on (rules 5 and 6). */
const SOURCE_CREDIT_TYPE: Record<UsageSource, 'api' | 'company'> = {
  job_search: 'api',
  company_search: 'api',
  technographics: 'api',
  webhooks: 'api',
  reveals: 'company',
  exports: 'company',
};

const LOT_SOURCE_LABELS: Record<string, string> = {
  purchase: 'Purchase',
  subscription: 'Subscription',
  auto_recharge: 'Auto recharge',
  trial: 'Trial',
  grant: 'Grant',
};

function lotSource(source: string): string {
  return LOT_SOURCE_LABELS[source] ?? source.replace(/_/g, ' ');
}

function percent(part: number, whole: number): string {
  if (whole <= 0) return '—';
  const tenths = Math.round((part * 1000) / whole);
  return `${Math.floor(tenths / 10)}.${tenths % 10}%`;
}

// ---------------------------------------------------------------------------------------------------
// Header and form

function header(report: UsageReport, options: UsagePageOptions): string {
  const csv = options.csvHref
    ? `<a class="button secondary" href="${esc(options.csvHref)}" download>Download CSV</a>`
    : '';
  return `<header class="masthead">
  <div>
    <p class="eyebrow">Credit usage</p>
    <h1>${esc(report.accountId)}</h1>
    <p class="subtitle">${esc(rangeLabel(report.from, report.to))} · ${esc(report.timezone)}</p>
  </div>
  <div class="masthead-actions">${csv}</div>
</header>`;
}

/** The visible pickers own these names; a hidden copy would be sent twice and shadow the choice. */
const PICKER_FIELDS = new Set(['from', 'to', 'timezone']);

function rangeForm(report: UsageReport, options: UsagePageOptions): string {
  const hidden = Object.entries(options.hiddenFields)
    .filter(([name]) => !PICKER_FIELDS.has(name))
    .map(([name, value]) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`)
    .join('\n  ');
  return `<form class="card range-form" method="get" action="${esc(options.formAction)}" aria-label="Date range and time zone">
  ${hidden}
  <label><span>From</span><input type="date" name="from" value="${esc(report.from)}" required></label>
  <label><span>To</span><input type="date" name="to" value="${esc(report.to)}" required></label>
  <label class="tz"><span>Time zone</span>${timezoneSelect(report.timezone)}</label>
  <button type="submit" class="button">Show usage</button>
</form>`;
}

/** V8 lists canonical zones by region and leaves out `UTC`, the default, so it is put first by hand. */
const ZONES_BY_REGION: ReadonlyMap<string, readonly string[]> = (() => {
  const groups = new Map<string, string[]>();
  for (const zone of Intl.supportedValuesOf('timeZone')) {
    const region = zone.includes('/') ? zone.slice(0, zone.indexOf('/')) : 'Other';
    groups.set(region, [...(groups.get(region) ?? []), zone]);
  }
  return groups;
})();

function timezoneSelect(current: string): string {
  const option = (zone: string) =>
    `<option value="${esc(zone)}"${zone === current ? ' selected' : ''}>${esc(zone.replace(/_/g, ' '))}</option>`;
  const known = current === 'UTC' || [...ZONES_BY_REGION.values()].some((zones) => zones.includes(current));
  // An alias such as `Asia/Calcutta` is valid but not canonical: keep it selectable rather than silently
  // showing another zone as the current one.
  const top = ['UTC', ...(known ? [] : [current])].map(option).join('');
  const groups = [...ZONES_BY_REGION]
    .map(([region, zones]) => `<optgroup label="${esc(region)}">${zones.map(option).join('')}</optgroup>`)
    .join('');
  return `<select name="timezone">${top}${groups}</select>`;
}

// ---------------------------------------------------------------------------------------------------
// Summary

function summaryCards(report: UsageReport): string {
  const t = report.totals;
  const apiSources = USAGE_SOURCES.filter((s) => SOURCE_CREDIT_TYPE[s] === 'api' && t.bySource[s] > 0);
  const apiDetail = apiSources.length
    ? apiSources.map((s) => `${SOURCE_LABELS[s]} ${num(t.bySource[s])}`).join(' · ')
    : 'No API usage';
  const notTriggered = t.webhookEvents.not_triggered;
  return `<section class="kpis" aria-label="Totals for the range">
  <div class="kpi"><p class="kpi-label">API credits used</p><p class="kpi-value">${num(t.credits.api)}</p><p class="kpi-detail">${esc(apiDetail)}</p></div>
  <div class="kpi"><p class="kpi-label">Company credits used</p><p class="kpi-value">${num(t.credits.company)}</p><p class="kpi-detail">Reveals ${num(t.bySource.reveals)} · Exports ${num(t.bySource.exports)}</p></div>
  <div class="kpi"><p class="kpi-label">Billed requests</p><p class="kpi-value">${num(t.requests)}</p><p class="kpi-detail">Record charges, reveals and webhook dispatches</p></div>
  <div class="kpi"><p class="kpi-label">Webhook events</p><p class="kpi-value">${num(t.webhookEvents.dispatched + notTriggered)}</p><p class="kpi-detail">${num(t.webhookEvents.dispatched)} dispatched · <span class="${notTriggered > 0 ? 'bad-text' : ''}">${num(notTriggered)} not triggered</span></p></div>
</section>`;
}

// ---------------------------------------------------------------------------------------------------
// Charts

interface ChartSeries {
  readonly label: string;
  /** CSS class giving the series its colour, shared with the legend swatch. */
  readonly cssClass: string;
  readonly values: readonly number[];
}

interface BarChart {
  /** Class of each day's `<g>`: tests and scripts find a chart's days by it. */
  readonly dayClass: string;
  readonly dates: readonly string[];
  readonly series: readonly ChartSeries[];
  readonly width: number;
  readonly height: number;
  readonly unit: string;
  readonly ariaLabel: string;
  readonly emptyText: string;
}

/** An axis top and step that are round numbers, with about five gridlines, for whole-number data. */
function niceScale(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 4, step: 1 };
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude);
  return { top: Math.ceil(max / step) * step, step };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * A stacked bar chart drawn on the server, one `<g>` per day (even an empty day, with a tooltip saying
 * so) and one `<rect>` per non-zero series value, each with its own `<title>` tooltip.
 */
function barChart(chart: BarChart): string {
  const margin = { top: 12, right: 8, bottom: 28, left: 48 };
  const plotW = chart.width - margin.left - margin.right;
  const plotH = chart.height - margin.top - margin.bottom;
  const baseline = margin.top + plotH;
  const n = chart.dates.length;
  const totals = chart.dates.map((_, i) => chart.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const { top, step } = niceScale(Math.max(0, ...totals));
  const slot = n > 0 ? plotW / n : plotW;
  const barW = Math.min(44, Math.max(1, slot * 0.7));
  const y = (v: number) => round2(baseline - (v / top) * plotH);

  const grid: string[] = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(
      `<line class="grid${v === 0 ? ' axis' : ''}" x1="${margin.left}" x2="${chart.width - margin.right}" y1="${y(v)}" y2="${y(v)}"/>` +
        `<text class="tick" x="${margin.left - 6}" y="${y(v) + 3.5}" text-anchor="end">${esc(compact.format(v))}</text>`,
    );
  }

  // About one label per 56 px keeps dates readable at any range length.
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / 56))));
  const groups = chart.dates.map((date, i) => {
    const x0 = round2(margin.left + i * slot);
    const bx = round2(margin.left + i * slot + (slot - barW) / 2);
    const dayTitle =
      totals[i] === 0
        ? `${longDate(date)}: no ${chart.unit}`
        : `${longDate(date)}: ${num(totals[i]!)} ${chart.unit}` +
          chart.series
            .filter((s) => (s.values[i] ?? 0) > 0)
            .map((s) => `\n${s.label}: ${num(s.values[i]!)}`)
            .join('');
    let stacked = 0;
    const bars = chart.series
      .filter((s) => (s.values[i] ?? 0) > 0)
      .map((s) => {
        const v = s.values[i]!;
        const yTop = y(stacked + v);
        const h = round2(y(stacked) - yTop);
        stacked += v;
        return `<rect class="bar ${s.cssClass}" x="${bx}" y="${yTop}" width="${round2(barW)}" height="${h}"><title>${esc(
          `${longDate(date)} · ${s.label}: ${num(v)} ${chart.unit}`,
        )}</title></rect>`;
      })
      .join('');
    const label =
      i % labelEvery === 0
        ? `<text class="tick" x="${round2(x0 + slot / 2)}" y="${baseline + 16}" text-anchor="middle">${esc(shortDate(date))}</text>`
        : '';
    // The transparent column makes the whole day hoverable, so an empty day still explains itself.
    return `<g class="${esc(chart.dayClass)}" data-date="${esc(date)}"><title>${esc(dayTitle)}</title><rect class="hit" x="${x0}" y="${margin.top}" width="${round2(slot)}" height="${plotH}"/>${bars}${label}</g>`;
  });

  const empty = totals.every((t) => t === 0)
    ? `<text class="empty" x="${margin.left + plotW / 2}" y="${margin.top + plotH / 2}" text-anchor="middle">${esc(chart.emptyText)}</text>`
    : '';
  return `<svg class="chart" viewBox="0 0 ${chart.width} ${chart.height}" role="img" aria-label="${esc(chart.ariaLabel)}" preserveAspectRatio="xMidYMid meet">${grid.join('')}${groups.join('')}${empty}</svg>`;
}

function legend(series: readonly { label: string; cssClass: string; note?: string }[]): string {
  return `<ul class="legend">${series
    .map((s) => `<li><span class="swatch ${s.cssClass}" aria-hidden="true"></span>${esc(s.label)}${s.note ? ` <span class="muted">${esc(s.note)}</span>` : ''}</li>`)
    .join('')}</ul>`;
}

function creditsSection(report: UsageReport, days: readonly UsageDay[]): string {
  const series = USAGE_SOURCES.map((source) => ({
    label: SOURCE_LABELS[source],
    cssClass: `src-${source}`,
    note: SOURCE_CREDIT_TYPE[source] === 'api' ? 'API' : 'company',
    values: days.map((d) => d.bySource[source]),
  }));
  const chart = barChart({
    dayClass: 'day',
    dates: days.map((d) => d.date),
    series,
    width: 960,
    height: 300,
    unit: 'credits',
    ariaLabel:
      `Credits consumed per day by source, ${rangeLabel(report.from, report.to)} (${report.timezone}): ` +
      `${num(report.totals.credits.api)} API credits and ${num(report.totals.credits.company)} company credits in total. ` +
      `The daily breakdown table below has the same figures.`,
    emptyText: 'No credits consumed in this range',
  });
  return `<section class="card" aria-labelledby="credits-heading">
  <div class="card-head"><h2 id="credits-heading">Credits consumed per day</h2><p class="muted">By source, stacked · hover a bar for figures</p></div>
  ${chart}
  ${legend(series)}
</section>`;
}

function requestsSection(report: UsageReport, days: readonly UsageDay[]): string {
  const chart = barChart({
    dayClass: 'requests-day',
    dates: days.map((d) => d.date),
    series: [{ label: 'Requests', cssClass: 'series-requests', values: days.map((d) => d.requests) }],
    width: 480,
    height: 200,
    unit: 'requests',
    ariaLabel: `Billed requests per day: ${num(report.totals.requests)} in total.`,
    emptyText: 'No billed requests in this range',
  });
  const busiest = days.reduce<UsageDay | undefined>((best, d) => (!best || d.requests > best.requests ? d : best), undefined);
  const quiet = days.filter((d) => d.requests === 0).length;
  const average = days.length ? Math.round(report.totals.requests / days.length) : 0;
  return `<section class="card" aria-labelledby="requests-heading">
  <div class="card-head"><h2 id="requests-heading">Requests per day</h2><p class="muted">${num(report.totals.requests)} billed</p></div>
  ${chart}
  <dl class="stats">
    <div><dt>Average per day</dt><dd>${num(average)}</dd></div>
    <div><dt>Busiest day</dt><dd>${busiest && busiest.requests > 0 ? `${num(busiest.requests)} <span class="muted">on ${esc(shortDate(busiest.date))}</span>` : '—'}</dd></div>
    <div><dt>Days without requests</dt><dd>${num(quiet)}</dd></div>
  </dl>
</section>`;
}

function webhooksSection(report: UsageReport, days: readonly UsageDay[]): string {
  const series = [
    { label: 'Dispatched', cssClass: 'series-dispatched', values: days.map((d) => d.webhookEvents.dispatched) },
    { label: 'Not triggered', cssClass: 'series-not-triggered', values: days.map((d) => d.webhookEvents.not_triggered) },
  ];
  const t = report.totals.webhookEvents;
  const chart = barChart({
    dayClass: 'webhook-day',
    dates: days.map((d) => d.date),
    series,
    width: 480,
    height: 200,
    unit: 'webhook events',
    ariaLabel: `Webhook events per day by status: ${num(t.dispatched)} dispatched, ${num(t.not_triggered)} not triggered.`,
    emptyText: 'No webhook events in this range',
  });
  const rows = [...report.webhooks]
    .sort((a, b) => b.dispatched + b.not_triggered - (a.dispatched + a.not_triggered))
    .map(
      (w) => `<tr><th scope="row"><code>${esc(w.webhookId)}</code></th><td class="num">${num(w.dispatched)}</td><td class="num${w.not_triggered > 0 ? ' bad-text' : ''}">${num(w.not_triggered)}</td><td class="num">${num(w.dispatched + w.not_triggered)}</td></tr>`,
    )
    .join('');
  const table = report.webhooks.length
    ? `<div class="scroll"><table class="webhooks">
    <thead><tr><th scope="col">Webhook</th><th scope="col" class="num">Dispatched</th><th scope="col" class="num">Not triggered</th><th scope="col" class="num">Total</th></tr></thead>
    <tbody>${rows}</tbody>
    <tfoot><tr><th scope="row">All webhooks</th><td class="num">${num(t.dispatched)}</td><td class="num">${num(t.not_triggered)}</td><td class="num">${num(t.dispatched + t.not_triggered)}</td></tr></tfoot>
  </table></div>`
    : '<p class="empty-state">No webhook events in this range.</p>';
  return `<section class="card" aria-labelledby="webhooks-heading">
  <div class="card-head"><h2 id="webhooks-heading">Webhook events</h2><p class="muted">Per day, by status</p></div>
  ${chart}
  ${legend(series)}
  ${table}
  <p class="note">Not triggered: the API balance could not pay for the event when it was due, so it was not sent and nothing was charged.</p>
</section>`;
}

// ---------------------------------------------------------------------------------------------------
// Balances and purchases

function balancesSection(report: UsageReport): string {
  return `<section class="card" aria-labelledby="balances-heading">
  <div class="card-head"><h2 id="balances-heading">Current balances</h2><p class="muted">As of ${esc(formatInstant(report.generatedAt, report.timezone))}</p></div>
  ${balanceBlock('API credits', 'api', report.balances.api, report)}
  ${balanceBlock('Company credits', 'company', report.balances.company, report)}
</section>`;
}

function balanceBlock(
  label: string,
  creditType: 'api' | 'company',
  balance: UsageReport['balances']['api'],
  report: UsageReport,
): string {
  const soon = balance.lots.filter((lot) => lot.expiringSoon).reduce((sum, lot) => sum + lot.remaining, 0);
  const lots = [...balance.lots].sort((a, b) => Date.parse(a.expiresAt) - Date.parse(b.expiresAt));
  const table = lots.length
    ? `<table class="lots">
    <thead><tr><th scope="col">Lot</th><th scope="col">Source</th><th scope="col" class="num">Remaining</th><th scope="col">Expires</th></tr></thead>
    <tbody>${lots.map((lot) => lotRow(lot, report)).join('')}</tbody>
  </table>`
    : '<p class="empty-state">No unexpired lots.</p>';
  return `<div class="balance" data-credit-type="${creditType}">
    <div>
      <p class="kpi-label">${esc(label)}</p>
      <p class="balance-value">${num(balance.available)} <span class="muted">available</span></p>
      ${soon > 0 ? `<p class="warn-text small">${num(soon)} expiring within 30 days</p>` : '<p class="small muted">Nothing expiring within 30 days</p>'}
    </div>
    <div class="scroll">${table}</div>
  </div>`;
}

function lotRow(lot: UsageLot, report: UsageReport): string {
  const daysLeft = Math.max(0, Math.ceil((Date.parse(lot.expiresAt) - Date.parse(report.generatedAt)) / DAY_MS));
  const badge = lot.expiringSoon
    ? ` <span class="badge warn">Expiring soon${Number.isNaN(daysLeft) ? '' : ` · ${daysLeft} ${daysLeft === 1 ? 'day' : 'days'}`}</span>`
    : '';
  return `<tr class="${lot.expiringSoon ? 'expiring-soon' : ''}"><th scope="row"><code>${esc(lot.purchaseId)}</code></th><td>${esc(lotSource(lot.source))}${lot.paid ? '' : ' <span class="badge">unpaid</span>'}</td><td class="num">${num(lot.remaining)}</td><td><time datetime="${esc(lot.expiresAt)}">${esc(formatInstant(lot.expiresAt, report.timezone))}</time>${badge}</td></tr>`;
}

function purchasesSection(report: UsageReport): string {
  const purchases = [...report.purchases].sort((a, b) => Date.parse(b.purchasedAt) - Date.parse(a.purchasedAt));
  const body = purchases.length
    ? `<table class="purchases">
    <thead><tr><th scope="col">Date</th><th scope="col">Purchase</th><th scope="col">Credit type</th><th scope="col" class="num">Credits</th><th scope="col">Source</th><th scope="col" class="num">Amount</th><th scope="col">Invoice</th><th scope="col">Expires</th></tr></thead>
    <tbody>${purchases.map((p) => purchaseRow(p, report.timezone)).join('')}</tbody>
  </table>`
    : '<p class="empty-state">No purchases yet.</p>';
  return `<section class="card" aria-labelledby="purchases-heading">
  <div class="card-head"><h2 id="purchases-heading">Purchase history</h2><p class="muted">${num(purchases.length)} ${purchases.length === 1 ? 'lot' : 'lots'}, newest first</p></div>
  <div class="scroll">${body}</div>
</section>`;
}

function purchaseRow(p: UsagePurchase, timezone: string): string {
  return `<tr><td><time datetime="${esc(p.purchasedAt)}">${esc(formatInstant(p.purchasedAt, timezone))}</time></td><th scope="row"><code>${esc(p.purchaseId)}</code></th><td>${p.creditType === 'api' ? 'API' : 'Company'}</td><td class="num">${num(p.credits)}</td><td>${esc(lotSource(p.source))}${p.paid ? '' : ' <span class="badge">unpaid</span>'}${p.refunded ? ' <span class="badge warn">refunded</span>' : ''}</td><td class="num">${esc(p.paid ? formatMoney(p.amountMinor, p.currency) : '—')}</td><td>${p.invoiceId ? `<code>${esc(p.invoiceId)}</code>` : '<span class="muted">—</span>'}</td><td><time datetime="${esc(p.expiresAt)}">${esc(formatInstant(p.expiresAt, timezone))}</time></td></tr>`;
}

/** Everything that moved credits besides consumption, and what the ledger asked or warned about. */
function activitySection(report: UsageReport): string {
  const activity = [...(report.activity ?? [])].reverse();
  const body = activity.length
    ? `<table class="activity">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Credit type</th><th scope="col" class="num">Credits</th></tr></thead>
    <tbody>${activity
      .map(
        (a) =>
          `<tr data-type="${esc(a.type)}"><td><time datetime="${esc(a.occurredAt)}">${esc(formatInstant(a.occurredAt, report.timezone))}</time></td><td>${esc(a.summary)}</td><td>${a.creditType === 'api' ? 'API' : 'Company'}</td><td class="num">${a.credits === undefined ? '<span class="muted">—</span>' : `${a.credits > 0 ? '+' : '−'}${num(Math.abs(a.credits))}`}</td></tr>`,
      )
      .join('')}</tbody>
  </table>`
    : '<p class="empty-state">No purchases, refunds, adjustments, expiries, recharges or alerts in this range.</p>';
  return `<section class="card" aria-labelledby="activity-heading">
  <div class="card-head"><h2 id="activity-heading">Account activity</h2><p class="muted">Recharges, refunds, adjustments, expiries and alerts, newest first</p></div>
  <div class="scroll">${body}</div>
</section>`;
}

// ---------------------------------------------------------------------------------------------------
// Attribution

function shareCell(part: number, whole: number): string {
  const width = whole > 0 ? Math.min(100, Math.round((part * 100) / whole)) : 0;
  return `<td class="share"><span class="share-inner"><span class="meter" aria-hidden="true"><span style="width:${width}%"></span></span>${esc(percent(part, whole))}</span></td>`;
}

function attributionSection(report: UsageReport): string {
  const total = report.totals.credits;
  const users = [...report.byUser].sort((a, b) => b.api + b.company - (a.api + a.company));
  const keys = [...report.byApiKey].sort((a, b) => b.api - a.api);
  const userApi = users.reduce((s, u) => s + u.api, 0);
  const userCompany = users.reduce((s, u) => s + u.company, 0);
  const keyApi = keys.reduce((s, k) => s + k.api, 0);
  // Commands carry a user or key only when the caller sent one (webhooks never do): the rest is shown
  // rather than left out, so the table still adds up to the totals above.
  const restApi = Math.max(0, total.api - userApi);
  const restCompany = Math.max(0, total.company - userCompany);
  const restKey = Math.max(0, total.api - keyApi);

  const userRows = users
    .map(
      (u) => `<tr><th scope="row"><code>${esc(u.userId)}</code></th><td class="num">${num(u.api)}</td><td class="num">${num(u.company)}</td>${shareCell(u.api, total.api)}</tr>`,
    )
    .join('');
  const userRest =
    restApi + restCompany > 0
      ? `<tr class="unattributed"><th scope="row">No user given</th><td class="num">${num(restApi)}</td><td class="num">${num(restCompany)}</td>${shareCell(restApi, total.api)}</tr>`
      : '';
  const keyRows = keys
    .map((k) => `<tr><th scope="row"><code>${esc(k.apiKeyId)}</code></th><td class="num">${num(k.api)}</td>${shareCell(k.api, total.api)}</tr>`)
    .join('');
  const keyRest =
    restKey > 0
      ? `<tr class="unattributed"><th scope="row">No API key given</th><td class="num">${num(restKey)}</td>${shareCell(restKey, total.api)}</tr>`
      : '';

  const byUser = users.length
    ? `<table class="by-user">
      <thead><tr><th scope="col">User</th><th scope="col" class="num">API credits</th><th scope="col" class="num">Company credits</th><th scope="col">Share of API</th></tr></thead>
      <tbody>${userRows}${userRest}</tbody>
    </table>`
    : '<p class="empty-state">No usage in this range named a user.</p>';
  const byKey = keys.length
    ? `<table class="by-api-key">
      <thead><tr><th scope="col">API key</th><th scope="col" class="num">API credits</th><th scope="col">Share of API</th></tr></thead>
      <tbody>${keyRows}${keyRest}</tbody>
    </table>`
    : '<p class="empty-state">No usage in this range named an API key.</p>';

  return `<section class="card" aria-labelledby="attribution-heading">
  <div class="card-head"><h2 id="attribution-heading">Attribution</h2><p class="muted">Credits consumed in the range, by who asked</p></div>
  <div class="attribution">
    <div class="scroll"><h3>By user</h3>${byUser}</div>
    <div class="scroll"><h3>By API key</h3>${byKey}</div>
  </div>
</section>`;
}

// ---------------------------------------------------------------------------------------------------
// Daily breakdown

function dailyTableSection(report: UsageReport, days: readonly UsageDay[]): string {
  const cells = (d: Omit<UsageDay, 'date'>) =>
    [d.credits.api, d.credits.company, ...USAGE_SOURCES.map((s) => d.bySource[s]), d.requests, d.webhookEvents.dispatched, d.webhookEvents.not_triggered]
      .map((v) => `<td class="num${v === 0 ? ' zero' : ''}">${num(v)}</td>`)
      .join('');
  const rows = days.map((d) => `<tr data-date="${esc(d.date)}"><th scope="row">${esc(longDate(d.date))}</th>${cells(d)}</tr>`).join('');
  return `<section class="card" aria-labelledby="daily-heading">
  <details>
    <summary><h2 id="daily-heading">Daily breakdown</h2><span class="muted">${num(days.length)} days · the figures behind the charts</span></summary>
    <div class="scroll">
    <table class="daily">
      <thead><tr><th scope="col">Day</th><th scope="col" class="num">API credits</th><th scope="col" class="num">Company credits</th>${USAGE_SOURCES.map(
        (s) => `<th scope="col" class="num">${esc(SOURCE_LABELS[s])}</th>`,
      ).join('')}<th scope="col" class="num">Requests</th><th scope="col" class="num">Webhooks dispatched</th><th scope="col" class="num">Webhooks not triggered</th></tr></thead>
      <tbody>${rows}</tbody>
      <tfoot><tr><th scope="row">Total</th>${cells(report.totals)}</tr></tfoot>
    </table>
    </div>
  </details>
</section>`;
}

// ---------------------------------------------------------------------------------------------------
// Styles: system fonts only, so the page renders the same with no network.

const STYLES = `
:root{--ink:#111827;--ink-2:#374151;--muted:#6b7280;--line:#e5e7eb;--bg:#f5f6f8;--card:#fff;--accent:#1d4ed8;--warn:#b45309;--warn-bg:#fef3c7;--bad:#b91c1c}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:1120px;margin:0 auto;padding:28px 24px 40px}
h1{font-size:26px;line-height:1.2;margin:2px 0 4px;font-weight:650;letter-spacing:-.01em;word-break:break-all}
h2{font-size:15px;margin:0;font-weight:650}
h3{font-size:13px;margin:0 0 8px;font-weight:600;color:var(--ink-2)}
p{margin:0}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--ink-2)}
.muted{color:var(--muted)}
.small{font-size:12.5px}
.warn-text{color:var(--warn);font-weight:600}
.bad-text{color:var(--bad);font-weight:600}
.masthead{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;margin-bottom:18px}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:11.5px;font-weight:600;color:var(--accent)}
.subtitle{color:var(--ink-2)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:16px;box-shadow:0 1px 2px rgba(17,24,39,.04)}
.card-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px;margin-bottom:12px;flex-wrap:wrap}
.card-head .muted{font-size:12.5px}
.grid-2{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.grid-2>.card{margin-bottom:16px}
.attribution{display:grid;grid-template-columns:minmax(0,7fr) minmax(0,5fr);gap:32px}
.range-form{display:flex;flex-wrap:wrap;align-items:flex-end;gap:14px;padding:14px 20px}
.range-form label{display:flex;flex-direction:column;gap:4px;font-size:12px;font-weight:600;color:var(--ink-2)}
.range-form label.tz{flex:1 1 240px}
input,select{font:inherit;color:var(--ink);background:#fff;border:1px solid #d1d5db;border-radius:6px;padding:6px 9px;min-height:34px}
input:focus,select:focus,.button:focus{outline:2px solid #93c5fd;outline-offset:1px}
.button{display:inline-flex;align-items:center;font:inherit;font-weight:600;border-radius:6px;padding:7px 16px;min-height:34px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none}
.button.secondary{background:#fff;color:var(--accent)}
.kpis{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:16px;margin-bottom:16px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 18px;box-shadow:0 1px 2px rgba(17,24,39,.04)}
.kpi-label{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kpi-value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.kpi-detail{font-size:12.5px;color:var(--muted)}
.chart{display:block;width:100%;height:auto}
.chart .grid{stroke:#eef0f3;stroke-width:1}
.chart .axis{stroke:#9ca3af}
.chart .tick{font-size:10.5px;fill:var(--muted);font-variant-numeric:tabular-nums}
.chart .empty{font-size:13px;fill:var(--muted)}
.chart .hit{fill:transparent}
.chart g:hover .hit{fill:rgba(29,78,216,.06)}
.chart .bar{shape-rendering:crispEdges}
.legend{list-style:none;margin:10px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12.5px;color:var(--ink-2)}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:3px}
.src-job_search{fill:#1d4ed8;background:#1d4ed8}
.src-company_search{fill:#0e7490;background:#0e7490}
.src-technographics{fill:#60a5fa;background:#60a5fa}
.src-webhooks{fill:#67c5d6;background:#67c5d6}
.src-reveals{fill:#d97706;background:#d97706}
.src-exports{fill:#fbbf24;background:#fbbf24}
.series-requests{fill:#475569;background:#475569}
.series-dispatched{fill:#0f766e;background:#0f766e}
.series-not-triggered{fill:#dc2626;background:#dc2626}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:7px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle;white-space:nowrap}
thead th{font-size:11.5px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;border-bottom-color:#d1d5db}
tbody th{font-weight:500}
tfoot th,tfoot td{font-weight:650;border-bottom:0;border-top:1px solid #d1d5db}
.num{text-align:right}
td.zero{color:#c0c4cc}
tr.expiring-soon{background:#fffbeb}
tr.unattributed th,tr.unattributed td{color:var(--muted);font-style:italic}
.webhooks{margin-top:14px}
.lots{table-layout:fixed}
.lots th:nth-child(1){width:26%}.lots th:nth-child(2){width:16%}.lots th:nth-child(3){width:14%}
.lots th,.lots td{overflow:hidden;text-overflow:ellipsis}
.lots td:last-child{white-space:normal}
.scroll{overflow-x:auto}
.badge{display:inline-block;font-size:11px;font-weight:600;line-height:1;padding:4px 7px;border-radius:999px;background:#f3f4f6;color:var(--ink-2);margin-left:6px;vertical-align:1px}
.badge.warn{background:var(--warn-bg);color:var(--warn)}
.balance-value{font-size:28px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.balance-value .muted{font-size:14px;font-weight:500}
.balance{display:grid;grid-template-columns:240px minmax(0,1fr);gap:24px;align-items:start;padding:14px 0;border-top:1px solid var(--line)}
.balance:first-of-type{border-top:0;padding-top:4px}
.share-inner{display:inline-flex;align-items:center;gap:8px}
.meter{display:inline-block;width:56px;height:6px;border-radius:3px;background:#eef0f3;overflow:hidden}
.meter>span{display:block;height:100%;background:var(--accent)}
.stats{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:12px;margin:16px 0 0;padding-top:14px;border-top:1px solid var(--line)}
.stats dt{font-size:11.5px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.stats dd{margin:2px 0 0;font-size:18px;font-weight:650;font-variant-numeric:tabular-nums}
.stats dd .muted{font-size:13px;font-weight:500}
.empty-state{color:var(--muted);padding:12px 0}
.note{margin-top:10px;font-size:12px;color:var(--muted)}
details>summary{display:flex;align-items:baseline;gap:12px;cursor:pointer;list-style:none}
details>summary::-webkit-details-marker{display:none}
details>summary::before{content:"▸";color:var(--muted);width:10px}
details[open]>summary::before{content:"▾"}
details[open]>summary{margin-bottom:12px}
.daily th,.daily td{padding:5px 8px;font-size:12.5px}
.footnote{color:var(--muted);font-size:12px;margin-top:8px}
@media (max-width:860px){.grid-2,.kpis,.attribution,.balance{grid-template-columns:minmax(0,1fr)}.masthead{flex-direction:column;align-items:flex-start}}
@media print{body{background:#fff}.range-form,.masthead-actions{display:none}.card,.kpi{box-shadow:none;break-inside:avoid}details>summary::before{content:""}}
`;
