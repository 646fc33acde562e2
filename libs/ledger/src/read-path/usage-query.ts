import { DAY_MS, iso, type Instant } from '#domain';
import type { AccountBalanceDoc, LotDoc } from '../projections/balances.projection.js';
import { purchasesEnd, purchasesStart, type PurchaseDoc } from '../projections/purchases.projection.js';
import type { SqliteReadModelStore } from '../projections/read-model-store.js';
import type { UsageBucketDoc } from '../projections/usage.projection.js';
import type { ActivityDoc } from '../projections/account-activity.projection.js';
import { USAGE_SOURCES, type BySource, type UsageDay, type UsageLot, type UsageReport } from './usage-report.js';

export const EXPIRING_SOON_MS = 30 * DAY_MS;
export const MAX_USAGE_DAYS = 366;

/** A calendar date, YYYY-MM-DD, in some time zone. */
export type CalendarDate = string;

export function isValidTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

const dateFormatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of an instant in a time zone. */
export function localDateOf(at: Instant, timezone: string): CalendarDate {
  let format = dateFormatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormatters.set(timezone, format);
  }
  return format.format(at);
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetAt(at: Instant, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(at / 1000) * 1000;
}

/** The instant a calendar day starts in a time zone (its first instant whose local date is that day). */
export function startOfDay(date: CalendarDate, timezone: string): Instant {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wallMidnight = Date.UTC(y, m - 1, d);
  let guess = wallMidnight - offsetAt(wallMidnight, timezone);
  guess = wallMidnight - offsetAt(guess, timezone);
  // Where midnight does not exist (a DST jump at 00:00), the day starts at the first instant after it.
  while (localDateOf(guess, timezone) < date) guess += 15 * 60_000;
  return guess;
}

export function nextDate(date: CalendarDate): CalendarDate {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

export function datesBetween(from: CalendarDate, to: CalendarDate): CalendarDate[] {
  const dates: CalendarDate[] = [];
  for (let date = from; date <= to; date = nextDate(date)) dates.push(date);
  return dates;
}

function emptyDay(date: CalendarDate): { -readonly [K in keyof UsageDay]: UsageDay[K] } {
  return {
    date,
    credits: { api: 0, company: 0 },
    bySource: Object.fromEntries(USAGE_SOURCES.map((s) => [s, 0])) as BySource,
    requests: 0,
    webhookEvents: { dispatched: 0, not_triggered: 0 },
  };
}

function addInto(target: ReturnType<typeof emptyDay>, bucket: UsageBucketDoc): void {
  target.credits = { api: target.credits.api + bucket.credits.api, company: target.credits.company + bucket.credits.company };
  target.bySource = Object.fromEntries(USAGE_SOURCES.map((s) => [s, target.bySource[s] + bucket.bySource[s]])) as BySource;
  target.requests += bucket.requests;
  let dispatched = target.webhookEvents.dispatched;
  let notTriggered = target.webhookEvents.not_triggered;
  for (const counts of Object.values(bucket.webhooks)) {
    dispatched += counts.dispatched;
    notTriggered += counts.not_triggered;
  }
  target.webhookEvents = { dispatched, not_triggered: notTriggered };
}

function lotView(lot: LotDoc, now: Instant): UsageLot {
  const expiresAt = Date.parse(lot.expiresAt);
  return {
    purchaseId: lot.purchaseId,
    remaining: lot.remaining,
    expiresAt: lot.expiresAt,
    paid: lot.paid,
    source: lot.source,
    expiringSoon: expiresAt - now <= EXPIRING_SOON_MS,
  };
}

/** Lots that can still be spent at `now`, in spending order (rule 4). */
export function spendableLots(balance: AccountBalanceDoc, creditType: 'api' | 'company', now: Instant): LotDoc[] {
  return balance.lots
    .filter((lot) => lot.creditType === creditType && lot.remaining > 0 && Date.parse(lot.expiresAt) > now)
    .sort(
      (a, b) =>
        Date.parse(a.expiresAt) - Date.parse(b.expiresAt) ||
        Number(a.paid) - Number(b.paid) ||
        Date.parse(a.purchasedAt) - Date.parse(b.purchasedAt) ||
        (a.purchaseId < b.purchaseId ? -1 : a.purchaseId > b.purchaseId ? 1 : 0),
    );
}

/**
 * The usage page's data for one account, read from the read models. Undefined when the account has no
 * history. The caller has checked the range (from <= to, at most MAX_USAGE_DAYS) and the time zone.
 */
export function usageReport(
  readModels: SqliteReadModelStore,
  accountId: string,
  range: { from: CalendarDate; to: CalendarDate; timezone: string },
  now: Instant,
): UsageReport | undefined {
  const balance = readModels.get<AccountBalanceDoc>('balances', accountId)?.doc;
  if (!balance) return undefined;
  const { from, to, timezone } = range;
  const start = startOfDay(from, timezone);
  const end = startOfDay(nextDate(to), timezone);

  const days = new Map(datesBetween(from, to).map((date) => [date, emptyDay(date)]));
  const totals = emptyDay('total');
  const webhooks = new Map<string, { dispatched: number; not_triggered: number }>();
  const byUser = new Map<string, { api: number; company: number }>();
  const byApiKey = new Map<string, { api: number }>();

  for (const { doc } of readModels.range<UsageBucketDoc>('usage', `${accountId}|${iso(start)}`, `${accountId}|${iso(end)}`)) {
    const day = days.get(localDateOf(Date.parse(doc.bucket), timezone));
    if (!day) continue;
    addInto(day, doc);
    addInto(totals, doc);
    for (const [webhookId, counts] of Object.entries(doc.webhooks)) {
      const sum = webhooks.get(webhookId) ?? { dispatched: 0, not_triggered: 0 };
      webhooks.set(webhookId, { dispatched: sum.dispatched + counts.dispatched, not_triggered: sum.not_triggered + counts.not_triggered });
    }
    for (const [userId, credits] of Object.entries(doc.byUser)) {
      const sum = byUser.get(userId) ?? { api: 0, company: 0 };
      byUser.set(userId, { api: sum.api + credits.api, company: sum.company + credits.company });
    }
    for (const [apiKeyId, credits] of Object.entries(doc.byApiKey)) {
      byApiKey.set(apiKeyId, { api: (byApiKey.get(apiKeyId)?.api ?? 0) + credits.api });
    }
  }

  const lotsOf = (creditType: 'api' | 'company') => {
    const lots = spendableLots(balance, creditType, now).map((lot) => lotView(lot, now));
    return { available: lots.reduce((sum, lot) => sum + lot.remaining, 0), lots };
  };
  const { date: _date, ...totalsWithoutDate } = totals;

  return {
    accountId,
    from,
    to,
    timezone,
    generatedAt: iso(now),
    days: [...days.values()],
    totals: totalsWithoutDate,
    webhooks: [...webhooks].map(([webhookId, counts]) => ({ webhookId, ...counts })).sort((a, b) => a.webhookId.localeCompare(b.webhookId)),
    byUser: [...byUser].map(([userId, credits]) => ({ userId, ...credits })).sort((a, b) => a.userId.localeCompare(b.userId)),
    byApiKey: [...byApiKey].map(([apiKeyId, credits]) => ({ apiKeyId, ...credits })).sort((a, b) => a.apiKeyId.localeCompare(b.apiKeyId)),
    balances: { api: lotsOf('api'), company: lotsOf('company') },
    activity: readModels
      .range<ActivityDoc>('account_activity', `${accountId}|${iso(start)}`, `${accountId}|${iso(end)}`)
      .map(({ doc }) => ({
        occurredAt: doc.occurredAt,
        type: doc.type,
        creditType: doc.creditType,
        ...(doc.credits !== undefined ? { credits: doc.credits } : {}),
        summary: doc.summary,
      })),
    // Newest first.
    purchases: readModels
      .range<PurchaseDoc>('purchases', purchasesStart(accountId), purchasesEnd(accountId))
      .map(({ doc }) => doc)
      .sort((a, b) => Number(BigInt(b.position) - BigInt(a.position)))
      .map((lot) => ({
        purchaseId: lot.purchaseId,
        creditType: lot.creditType,
        credits: lot.credits,
        paid: lot.paid,
        source: lot.source,
        ...(lot.amountMinor !== undefined ? { amountMinor: lot.amountMinor } : {}),
        ...(lot.currency !== undefined ? { currency: lot.currency } : {}),
        ...(lot.invoiceId !== undefined ? { invoiceId: lot.invoiceId } : {}),
        purchasedAt: lot.purchasedAt,
        expiresAt: lot.expiresAt,
        ...(lot.refunded ? { refunded: true } : {}),
      })),
  };
}
