import { DAY_MS, iso, type Instant } from '#domain';
import type { AccountBalanceDoc, LotDoc } from '../projections/balances.projection.js';
import { purchasesEnd, purchasesStart, type PurchaseDoc } from '../projections/purchases.projection.js';
import { rangeInPages, type SqliteReadModelStore } from '../projections/read-model-store.js';
import type { UsageBucketDoc } from '../projections/usage.projection.js';
import type { ActivityDoc } from '../projections/account-activity.projection.js';
import { USAGE_SOURCES, type BySource, type UsageActivity, type UsageDay, type UsageLot, type UsageReport } from './usage-report.js';

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

const wallClockFormatters = new Map<string, Intl.DateTimeFormat>();

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetAt(at: Instant, timezone: string): number {
  // Made once per zone: making one is most of the cost of a call (a year of days, 60 ms a report).
  let format = wallClockFormatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    wallClockFormatters.set(timezone, format);
  }
  const parts = format.formatToParts(at);
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

type UsageDayTotals = { -readonly [K in keyof UsageDay]: UsageDay[K] } & {
  readonly credits: { api: number; company: number };
  readonly bySource: Record<keyof BySource, number>;
  readonly webhookEvents: { dispatched: number; not_triggered: number };
};

function emptyDay(date: CalendarDate): UsageDayTotals {
  return {
    date,
    credits: { api: 0, company: 0 },
    bySource: Object.fromEntries(USAGE_SOURCES.map((s) => [s, 0])) as BySource,
    requests: 0,
    webhookEvents: { dispatched: 0, not_triggered: 0 },
  };
}

// In place: a year of a busy account is 35,000 buckets, each added to its day and to the totals.
function addInto(target: UsageDayTotals, bucket: UsageBucketDoc): void {
  target.credits.api += bucket.credits.api;
  target.credits.company += bucket.credits.company;
  for (const source of USAGE_SOURCES) target.bySource[source] += bucket.bySource[source];
  target.requests += bucket.requests;
  for (const webhookId in bucket.webhooks) {
    const counts = bucket.webhooks[webhookId]!;
    target.webhookEvents.dispatched += counts.dispatched;
    target.webhookEvents.not_triggered += counts.not_triggered;
  }
}

/**
 * The local dates of instants asked in ascending order, from the instants the days start at: formatting
 * each bucket's instant in its time zone was a seventh of a year's report. `dateOf(at)` is the date of the
 * day holding `at` (the same as `localDateOf`), or undefined before the first day.
 */
export class LocalDays {
  private date: CalendarDate;
  private start: Instant;
  private end: Instant;

  constructor(
    first: CalendarDate,
    private readonly timezone: string,
  ) {
    this.date = first;
    this.start = startOfDay(first, timezone);
    this.end = startOfDay(nextDate(first), timezone);
  }

  dateOf(at: Instant): CalendarDate | undefined {
    if (at < this.start) return undefined;
    // A day a zone skipped (Samoa's 2011-12-30) starts where the next one does, and holds no instant.
    while (at >= this.end) {
      this.date = nextDate(this.date);
      this.start = this.end;
      this.end = startOfDay(nextDate(this.date), this.timezone);
    }
    return this.date;
  }
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

/** Documents a usage report reads between two turns of the event loop (a millisecond or two of buckets). */
export const USAGE_PAGE_SIZE = 250;

/**
 * The usage page's data for one account, read from the read models. Undefined when the account has no
 * history. The caller has checked the range (from <= to, at most MAX_USAGE_DAYS) and the time zone.
 *
 * The documents are read `pageSize` at a time with a turn of the event loop between pages: a year of a
 * busy account is 35,000 buckets of 15 minutes, and the thread that reads them also answers requests (in
 * one go it held that thread 300-400 ms). Every event the projections had applied when the report started
 * is in it; one applied while it is read may be in the pages read after it.
 */
export async function usageReport(
  readModels: SqliteReadModelStore,
  accountId: string,
  range: { from: CalendarDate; to: CalendarDate; timezone: string },
  now: Instant,
  pageSize = USAGE_PAGE_SIZE,
): Promise<UsageReport | undefined> {
  const balance = readModels.get<AccountBalanceDoc>('balances', accountId)?.doc;
  if (!balance) return undefined;
  const { from, to, timezone } = range;
  const start = startOfDay(from, timezone);
  const end = startOfDay(nextDate(to), timezone);
  const inRange = <Doc>(projection: string) => rangeInPages<Doc>(readModels, projection, `${accountId}|${iso(start)}`, `${accountId}|${iso(end)}`, pageSize);

  const days = new Map(datesBetween(from, to).map((date) => [date, emptyDay(date)]));
  const totals = emptyDay('total');
  const webhooks = new Map<string, { dispatched: number; not_triggered: number }>();
  const byUser = new Map<string, { api: number; company: number }>();
  const byApiKey = new Map<string, { api: number }>();
  const localDays = new LocalDays(from, timezone);

  // Keys are the account and the bucket's ISO instant: in key order, buckets come in time order.
  for await (const page of inRange<UsageBucketDoc>('usage')) {
    for (const { doc } of page) {
      const date = localDays.dateOf(Date.parse(doc.bucket));
      const day = date === undefined ? undefined : days.get(date);
      if (!day) continue;
      addInto(day, doc);
      addInto(totals, doc);
      for (const webhookId in doc.webhooks) {
        const counts = doc.webhooks[webhookId]!;
        const sum = webhooks.get(webhookId);
        if (sum) {
          sum.dispatched += counts.dispatched;
          sum.not_triggered += counts.not_triggered;
        } else webhooks.set(webhookId, { dispatched: counts.dispatched, not_triggered: counts.not_triggered });
      }
      for (const userId in doc.byUser) {
        const credits = doc.byUser[userId]!;
        const sum = byUser.get(userId);
        if (sum) {
          sum.api += credits.api;
          sum.company += credits.company;
        } else byUser.set(userId, { api: credits.api, company: credits.company });
      }
      for (const apiKeyId in doc.byApiKey) {
        const credits = doc.byApiKey[apiKeyId]!;
        const sum = byApiKey.get(apiKeyId);
        if (sum) sum.api += credits.api;
        else byApiKey.set(apiKeyId, { api: credits.api });
      }
    }
  }

  const activity: UsageActivity[] = [];
  for await (const page of inRange<ActivityDoc>('account_activity')) {
    for (const { doc } of page) {
      activity.push({
        occurredAt: doc.occurredAt,
        type: doc.type,
        creditType: doc.creditType,
        ...(doc.credits !== undefined ? { credits: doc.credits } : {}),
        summary: doc.summary,
      });
    }
  }

  const lots: PurchaseDoc[] = [];
  for await (const page of rangeInPages<PurchaseDoc>(readModels, 'purchases', purchasesStart(accountId), purchasesEnd(accountId), pageSize)) {
    for (const { doc } of page) lots.push(doc);
  }

  const lotsOf = (creditType: 'api' | 'company') => {
    const spendable = spendableLots(balance, creditType, now).map((lot) => lotView(lot, now));
    return { available: spendable.reduce((sum, lot) => sum + lot.remaining, 0), lots: spendable };
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
    activity,
    // Newest first.
    purchases: lots
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
