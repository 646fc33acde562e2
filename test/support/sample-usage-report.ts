import { USAGE_SOURCES, type BySource, type UsageDay, type UsageReport } from '#ledger';

/**
 * A realistic month of one team's usage, for the browser test and the screenshot in `docs/`: busy
 * weekdays, quiet weekends, one day with nothing at all, two webhooks of which one was refused for
 * two days while the balance ran dry (until an auto recharge landed), an annual lot about to expire,
 * two users and two API keys. Deterministic, so the screenshot only changes when the page does.
 */
export function sampleUsageReport(): UsageReport {
  const random = seeded(20260401);
  const days: UsageDay[] = [];
  const start = Date.parse('2026-03-03T00:00:00Z');
  for (let i = 0; i < 30; i++) {
    const t = start + i * 86_400_000;
    const date = new Date(t).toISOString().slice(0, 10);
    const weekday = new Date(t).getUTCDay();
    const weekend = weekday === 0 || weekday === 6;
    // The team's crawler was switched off for maintenance that Sunday: a day with no usage at all.
    const idle = date === '2026-03-15';
    // The API balance ran out on the 19th; webhook events were refused until the recharge of the 21st.
    const dry = date === '2026-03-19' || date === '2026-03-20';
    const load = idle ? 0 : weekend ? 0.15 : 1;

    const jobSearchCalls = Math.round((18 + random() * 22) * load);
    const jobSearch = idle ? 0 : Math.round((600 + random() * 900) * load);
    const companySearch = 3 * Math.round((20 + random() * 90) * load);
    const technographics = 3 * Math.round(random() * 45 * load);
    const jobEvents = idle ? 0 : Math.round((30 + random() * 40) * (weekend ? 0.5 : 1));
    const companyEvents = idle ? 0 : Math.round(random() * 12);
    const reveals = Math.round(random() * 28 * load);
    const exports = weekend || idle ? 0 : Math.round(random() < 0.4 ? random() * 15 : 0);

    const webhookCredits = dry ? 0 : jobEvents + 3 * companyEvents;
    const bySource: BySource = {
      job_search: dry ? Math.round(jobSearch / 4) : jobSearch,
      company_search: dry ? 0 : companySearch,
      technographics: dry ? 0 : technographics,
      webhooks: webhookCredits,
      reveals,
      exports,
    };
    const dispatched = dry ? 0 : jobEvents + companyEvents;
    const notTriggered = dry ? jobEvents + companyEvents : 0;
    const requests =
      (dry ? Math.round(jobSearchCalls / 4) : jobSearchCalls) +
      (bySource.company_search > 0 ? Math.ceil(bySource.company_search / 30) : 0) +
      (bySource.technographics > 0 ? Math.ceil(bySource.technographics / 12) : 0) +
      (reveals > 0 ? Math.ceil(reveals / 4) : 0) +
      (exports > 0 ? 1 : 0) +
      dispatched;
    days.push({
      date,
      credits: {
        api: bySource.job_search + bySource.company_search + bySource.technographics + bySource.webhooks,
        company: reveals + exports,
      },
      bySource,
      requests,
      webhookEvents: { dispatched, not_triggered: notTriggered },
    });
  }

  const totals = sumDays(days);
  // Webhook dispatches carry no user or key, so some usage stays unattributed, as in production.
  const attributable = totals.credits.api - totals.bySource.webhooks;
  const anaApi = Math.round(attributable * 0.64);
  const anaCompany = Math.round(totals.credits.company * 0.7);
  const liApi = Math.round(attributable * 0.31);
  // The job webhook fires far more often; the two add up to the daily totals.
  const jobsWebhook = {
    dispatched: Math.round(totals.webhookEvents.dispatched * 0.82),
    not_triggered: Math.round(totals.webhookEvents.not_triggered * 0.82),
  };

  return {
    activity: [
      { occurredAt: '2026-03-21T08:12:00.000Z', type: 'CreditsPurchased', creditType: 'api', credits: 25_000, summary: 'Auto recharge ar-api-3 p-2026-03-auto-recharge' },
      { occurredAt: '2026-03-21T08:11:40.000Z', type: 'AutoRechargeRequested', creditType: 'api', summary: 'Auto recharge ar-api-3 requested (25000 credits; balance 1840)' },
      { occurredAt: '2026-03-20T17:02:00.000Z', type: 'BalanceAlertRaised', creditType: 'api', summary: "Alert: 75% of this month's credits used (18750 of 25000)" },
      { occurredAt: '2026-03-12T10:00:00.000Z', type: 'CreditsAdjusted', creditType: 'api', credits: 500, summary: 'Adjustment by billing-admin/ops-ana: outage on 11 March' },
      { occurredAt: '2026-03-05T00:00:00.000Z', type: 'CreditsExpired', creditType: 'company', credits: -38, summary: 'Expired: the rest of p-2025-03-companies' },
    ].reverse() as UsageReport['activity'],
    accountId: 'acme-data',
    from: days[0]!.date,
    to: days[days.length - 1]!.date,
    timezone: 'Europe/Madrid',
    generatedAt: '2026-04-01T16:20:00.000Z',
    days,
    totals,
    webhooks: [
      { webhookId: 'wh-jobs-berlin-python', ...jobsWebhook },
      {
        webhookId: 'wh-company-funding-rounds',
        dispatched: totals.webhookEvents.dispatched - jobsWebhook.dispatched,
        not_triggered: totals.webhookEvents.not_triggered - jobsWebhook.not_triggered,
      },
    ],
    byUser: [
      { userId: 'ana.garcia@acme-data.io', api: anaApi, company: anaCompany },
      { userId: 'li.wei@acme-data.io', api: liApi, company: totals.credits.company - anaCompany },
    ],
    byApiKey: [
      { apiKeyId: 'key-prod-crawler', api: Math.round(attributable * 0.88) },
      { apiKeyId: 'key-staging', api: Math.round(attributable * 0.07) },
    ],
    balances: {
      api: {
        available: 22_850,
        lots: [
          {
            purchaseId: 'p-2025-04-annual',
            remaining: 4_210,
            expiresAt: '2026-04-14T10:00:00.000Z',
            paid: true,
            source: 'purchase',
            expiringSoon: true,
          },
          {
            purchaseId: 'p-2026-03-auto-recharge',
            remaining: 18_640,
            expiresAt: '2027-03-21T08:12:00.000Z',
            paid: true,
            source: 'auto_recharge',
            expiringSoon: false,
          },
        ],
      },
      company: {
        available: 1_372,
        lots: [
          {
            purchaseId: 'p-2026-02-companies',
            remaining: 1_372,
            expiresAt: '2027-02-03T15:30:00.000Z',
            paid: true,
            source: 'purchase',
            expiringSoon: false,
          },
        ],
      },
    },
    purchases: [
      {
        purchaseId: 'p-2025-04-annual',
        creditType: 'api',
        credits: 60_000,
        paid: true,
        source: 'purchase',
        amountMinor: 119_000,
        currency: 'USD',
        invoiceId: 'INV-2025-0412',
        purchasedAt: '2025-04-14T10:00:00.000Z',
        expiresAt: '2026-04-14T10:00:00.000Z',
      },
      {
        purchaseId: 'p-2026-02-companies',
        creditType: 'company',
        credits: 2_000,
        paid: true,
        source: 'purchase',
        amountMinor: 60_000,
        currency: 'USD',
        invoiceId: 'INV-2026-0203',
        purchasedAt: '2026-02-03T15:30:00.000Z',
        expiresAt: '2027-02-03T15:30:00.000Z',
      },
      {
        purchaseId: 'p-2026-03-auto-recharge',
        creditType: 'api',
        credits: 25_000,
        paid: true,
        source: 'auto_recharge',
        amountMinor: 50_000,
        currency: 'USD',
        invoiceId: 'INV-2026-0321',
        purchasedAt: '2026-03-21T08:12:00.000Z',
        expiresAt: '2027-03-21T08:12:00.000Z',
      },
    ],
  };
}

function sumDays(days: readonly UsageDay[]): Omit<UsageDay, 'date'> {
  const bySource = Object.fromEntries(USAGE_SOURCES.map((s) => [s, days.reduce((sum, d) => sum + d.bySource[s], 0)])) as BySource;
  const total = (pick: (d: UsageDay) => number) => days.reduce((sum, d) => sum + pick(d), 0);
  return {
    credits: { api: total((d) => d.credits.api), company: total((d) => d.credits.company) },
    bySource,
    requests: total((d) => d.requests),
    webhookEvents: { dispatched: total((d) => d.webhookEvents.dispatched), not_triggered: total((d) => d.webhookEvents.not_triggered) },
  };
}

/** A small deterministic generator (mulberry32), so the sample is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
