import { USAGE_SOURCES, type BySource, type UsageDay, type UsageReport } from '#ledger';
import { sampleUsageReport } from '../../../../test/support/sample-usage-report.js';
import { everyDayOf, num, renderUsagePage } from './usage-page.renderer.js';

const options = { formAction: '/usage-page/acme', hiddenFields: { exp: '1775060400000', sig: 'abc_DEF-123' } };

function day(date: string, bySource: Partial<BySource> = {}, extra: Partial<Omit<UsageDay, 'date' | 'bySource'>> = {}): UsageDay {
  const sources = { ...Object.fromEntries(USAGE_SOURCES.map((s) => [s, 0])), ...bySource } as BySource;
  return {
    date,
    credits: {
      api: sources.job_search + sources.company_search + sources.technographics + sources.webhooks,
      company: sources.reveals + sources.exports,
    },
    bySource: sources,
    requests: 0,
    webhookEvents: { dispatched: 0, not_triggered: 0 },
    ...extra,
  };
}

function report(overrides: Partial<UsageReport> = {}): UsageReport {
  const days = overrides.days ?? [
    day('2026-03-01', { job_search: 120, reveals: 4 }, { requests: 7, webhookEvents: { dispatched: 3, not_triggered: 0 } }),
    day('2026-03-02'),
    day('2026-03-03', { company_search: 30, webhooks: 5 }, { requests: 2, webhookEvents: { dispatched: 2, not_triggered: 1 } }),
  ];
  return {
    activity: [],
    accountId: 'acme',
    from: days[0]?.date ?? '2026-03-01',
    to: days.at(-1)?.date ?? '2026-03-03',
    timezone: 'UTC',
    generatedAt: '2026-03-04T10:00:00.000Z',
    days,
    totals: {
      credits: { api: 155, company: 4 },
      bySource: { job_search: 120, company_search: 30, technographics: 0, webhooks: 5, reveals: 4, exports: 0 },
      requests: 9,
      webhookEvents: { dispatched: 5, not_triggered: 1 },
    },
    webhooks: [
      { webhookId: 'wh-jobs', dispatched: 4, not_triggered: 0 },
      { webhookId: 'wh-companies', dispatched: 1, not_triggered: 1 },
    ],
    byUser: [{ userId: 'ana', api: 100, company: 4 }],
    byApiKey: [{ apiKeyId: 'key-prod', api: 150 }],
    balances: {
      api: {
        available: 1_250,
        lots: [
          { purchaseId: 'lot-late', remaining: 1_000, expiresAt: '2027-01-01T00:00:00.000Z', paid: true, source: 'purchase', expiringSoon: false },
          { purchaseId: 'lot-soon', remaining: 250, expiresAt: '2026-03-20T00:00:00.000Z', paid: false, source: 'trial', expiringSoon: true },
        ],
      },
      company: { available: 96, lots: [{ purchaseId: 'lot-co', remaining: 96, expiresAt: '2027-02-01T00:00:00.000Z', paid: true, source: 'purchase', expiringSoon: false }] },
    },
    purchases: [
      {
        purchaseId: 'lot-late',
        creditType: 'api',
        credits: 1_200,
        paid: true,
        source: 'purchase',
        amountMinor: 119_050,
        currency: 'USD',
        invoiceId: 'INV-7',
        purchasedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2027-01-01T00:00:00.000Z',
      },
      {
        purchaseId: 'lot-yen',
        creditType: 'company',
        credits: 100,
        paid: true,
        source: 'purchase',
        amountMinor: 5_000,
        currency: 'JPY',
        purchasedAt: '2026-02-01T00:00:00.000Z',
        expiresAt: '2027-02-01T00:00:00.000Z',
      },
      {
        purchaseId: 'lot-soon',
        creditType: 'api',
        credits: 250,
        paid: false,
        source: 'trial',
        purchasedAt: '2026-02-20T00:00:00.000Z',
        expiresAt: '2026-03-20T00:00:00.000Z',
      },
    ],
    ...overrides,
  };
}

/** The markup of the `<g>` of one day in a chart, up to the next day's. */
function dayGroup(html: string, cls: string, date: string): string {
  const start = html.indexOf(`<g class="${cls}" data-date="${date}">`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</g>', start));
}

function count(html: string, pattern: RegExp): number {
  return html.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

/** The table of the given class, whole. */
function table(html: string, cls: string): string {
  const start = html.indexOf(`<table class="${cls}">`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</table>', start));
}

describe('the usage page', () => {
  describe('the credits chart', () => {
    it('has one day group per day of the report', () => {
      const sample = sampleUsageReport();
      const html = renderUsagePage(sample, options);
      expect(count(html, /<g class="day" /)).toBe(sample.days.length);
      expect(count(html, /<g class="day" /)).toBe(30);
    });

    it('keeps a day with no usage, with a tooltip saying so and no bars', () => {
      const group = dayGroup(renderUsagePage(report(), options), 'day', '2026-03-02');
      expect(group).toContain('<title>Mon 2 Mar 2026: no credits</title>');
      expect(group).not.toContain('class="bar');
    });

    it('fills in the days a sparse report leaves out, so the range has no gaps', () => {
      const sparse = report({ days: [day('2026-03-01', { job_search: 5 }), day('2026-03-05', { job_search: 7 })], from: '2026-03-01', to: '2026-03-05' });
      const html = renderUsagePage(sparse, options);
      expect(everyDayOf(sparse).map((d) => d.date)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']);
      expect(count(html, /<g class="day" /)).toBe(5);
      expect(dayGroup(html, 'day', '2026-03-03')).toContain('no credits');
    });

    it('stacks one bar per source used that day, each with its own tooltip', () => {
      const group = dayGroup(renderUsagePage(report(), options), 'day', '2026-03-01');
      expect(count(group, /<rect class="bar /)).toBe(2);
      expect(group).toContain('<rect class="bar src-job_search"');
      expect(group).toContain('<title>Sun 1 Mar 2026 · Job search: 120 credits</title>');
      expect(group).toContain('<title>Sun 1 Mar 2026 · Reveals: 4 credits</title>');
    });

    it('scales the tallest day to the top of a round axis, never past it', () => {
      const html = renderUsagePage(report(), options);
      const heights = [...dayGroup(html, 'day', '2026-03-01').matchAll(/class="bar [^"]*" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g)].map(
        ([, y, h]) => [Number(y), Number(h)],
      );
      const top = Math.min(...heights.map(([y]) => y!));
      expect(top).toBeGreaterThanOrEqual(12); // the plot's top margin
      expect(heights.reduce((sum, [, h]) => sum + h!, 0)).toBeGreaterThan(100);
      expect(html).toMatch(/<text class="tick"[^>]*>150<\/text>/);
    });

    it('is an image with a text alternative, axis labels and a legend naming every source', () => {
      const html = renderUsagePage(report(), options);
      expect(html).toMatch(/<svg class="chart"[^>]* role="img" aria-label="Credits consumed per day by source[^"]*155 API credits and 4 company credits/);
      expect(html).toMatch(/<text class="tick"[^>]*>1 Mar<\/text>/);
      for (const label of ['Job search', 'Company search', 'Technographics', 'Webhooks', 'Reveals', 'Exports']) {
        expect(html).toMatch(new RegExp(`<li><span class="swatch [^"]+" aria-hidden="true"></span>${label}`));
      }
    });

    it('says so when nothing was consumed at all', () => {
      const html = renderUsagePage(report({ days: [day('2026-03-01'), day('2026-03-02')] }), options);
      expect(html).toContain('No credits consumed in this range');
    });
  });

  describe('the range form', () => {
    const html = renderUsagePage(report({ timezone: 'Europe/Madrid' }), options);

    it('is a GET form to the given action with date pickers for the range', () => {
      expect(html).toContain('<form class="card range-form" method="get" action="/usage-page/acme"');
      expect(html).toContain('<input type="date" name="from" value="2026-03-01" required>');
      expect(html).toContain('<input type="date" name="to" value="2026-03-03" required>');
    });

    it('carries the signed link parameters as hidden fields', () => {
      expect(html).toContain('<input type="hidden" name="exp" value="1775060400000">');
      expect(html).toContain('<input type="hidden" name="sig" value="abc_DEF-123">');
    });

    it('never lets a hidden field shadow a picker', () => {
      const shadowed = renderUsagePage(report(), { formAction: '/x', hiddenFields: { from: '1999-01-01', sig: 's' } });
      expect(count(shadowed, /name="from"/)).toBe(1);
      expect(shadowed).not.toContain('1999-01-01');
    });

    it('lists the IANA zones with the report zone selected, and UTC first', () => {
      const select = html.slice(html.indexOf('<select name="timezone">'), html.indexOf('</select>'));
      expect(count(select, /<option /)).toBe(Intl.supportedValuesOf('timeZone').length + 1);
      expect(select).toMatch(/^<select name="timezone"><option value="UTC">/);
      expect(select).toContain('<option value="Europe/Madrid" selected>Europe/Madrid</option>');
      expect(select).toContain('<option value="America/New_York">America/New York</option>');
      expect(count(select, / selected/)).toBe(1);
    });

    it('keeps a valid zone that is not in the canonical list selectable and selected', () => {
      const alias = renderUsagePage(report({ timezone: 'Asia/Calcutta' }), options);
      expect(alias).toContain('<option value="Asia/Calcutta" selected>');
    });
  });

  describe('balances', () => {
    const html = renderUsagePage(report(), options);

    it('shows each balance with its lots, soonest expiry first', () => {
      const api = table(html, 'lots');
      expect(html).toMatch(/<p class="balance-value">1,250 <span class="muted">available/);
      expect(html).toMatch(/<p class="balance-value">96 <span class="muted">available/);
      expect(api.indexOf('lot-soon')).toBeLessThan(api.indexOf('lot-late'));
      expect(api).toMatch(/<code>lot-late<\/code><\/th><td>Purchase<\/td><td class="num">1,000<\/td>/);
      expect(api).toContain('<time datetime="2027-01-01T00:00:00.000Z">1 Jan 2027, 00:00</time>');
    });

    it('marks only the lots expiring soon, with the days left', () => {
      expect(count(html, /Expiring soon/)).toBe(1);
      expect(html).toMatch(/<tr class="expiring-soon"><th scope="row"><code>lot-soon<\/code>.*?Expiring soon · 16 days/);
      expect(html).toContain('250 expiring within 30 days');
      expect(html).toContain('Nothing expiring within 30 days');
    });

    it('shows times in the report zone', () => {
      const madrid = renderUsagePage(report({ timezone: 'Europe/Madrid' }), options);
      expect(madrid).toContain('<time datetime="2027-01-01T00:00:00.000Z">1 Jan 2027, 01:00</time>');
    });
  });

  describe('purchases', () => {
    const purchases = table(renderUsagePage(report(), options), 'purchases');

    it('lists every purchase, newest first, with credits, source and invoice', () => {
      const order = ['lot-soon', 'lot-yen', 'lot-late'].map((id) => purchases.indexOf(`<code>${id}</code>`));
      expect(order.every((position) => position > 0)).toBe(true);
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(purchases).toContain('<td class="num">1,200</td>');
      expect(purchases).toContain('<code>INV-7</code>');
    });

    it('formats amounts from integer minor units in their currency', () => {
      expect(purchases).toContain('$1,190.50');
      expect(purchases).toContain('¥5,000');
    });

    it('shows an unpaid grant as unpaid, without an amount', () => {
      expect(purchases).toMatch(/<code>lot-soon<\/code>.*?Trial <span class="badge">unpaid<\/span><\/td><td class="num">—<\/td>/);
    });
  });

  describe('webhooks and requests', () => {
    const html = renderUsagePage(report(), options);

    it('counts events per webhook by status, with a total', () => {
      const webhooks = table(html, 'webhooks');
      expect(webhooks).toMatch(/<code>wh-companies<\/code><\/th><td class="num">1<\/td><td class="num bad-text">1<\/td><td class="num">2<\/td>/);
      expect(webhooks).toMatch(/<code>wh-jobs<\/code><\/th><td class="num">4<\/td><td class="num">0<\/td><td class="num">4<\/td>/);
      expect(webhooks).toMatch(/All webhooks<\/th><td class="num">5<\/td><td class="num">1<\/td><td class="num">6<\/td>/);
    });

    it('charts webhook events per day by status', () => {
      expect(count(html, /<g class="webhook-day" /)).toBe(3);
      expect(dayGroup(html, 'webhook-day', '2026-03-03')).toContain('<title>Tue 3 Mar 2026 · Not triggered: 1 webhook events</title>');
    });

    it('charts requests per day', () => {
      expect(count(html, /<g class="requests-day" /)).toBe(3);
      expect(dayGroup(html, 'requests-day', '2026-03-01')).toContain('Requests: 7 requests');
      expect(html).toMatch(/Busiest day<\/dt><dd>7 <span class="muted">on 1 Mar/);
    });

    it('has a daily table with every figure, and totals', () => {
      const daily = table(html, 'daily');
      expect(count(daily, /<tr data-date=/)).toBe(3);
      expect(daily).toMatch(/<tr data-date="2026-03-03"><th scope="row">Tue 3 Mar 2026<\/th>(<td class="num[^"]*">[\d,]+<\/td>){11}<\/tr>/);
      expect(daily).toMatch(/<tfoot><tr><th scope="row">Total<\/th><td class="num">155<\/td><td class="num">4<\/td>/);
    });
  });

  describe('attribution', () => {
    const html = renderUsagePage(report(), options);

    it('shows credits per user and per API key, and what no user or key claimed', () => {
      expect(table(html, 'by-user')).toMatch(/<code>ana<\/code><\/th><td class="num">100<\/td><td class="num">4<\/td>.*?64\.5%/);
      expect(table(html, 'by-user')).toMatch(/No user given<\/th><td class="num">55<\/td><td class="num">0<\/td>/);
      expect(table(html, 'by-api-key')).toMatch(/<code>key-prod<\/code><\/th><td class="num">150<\/td>.*?96\.8%/);
      expect(table(html, 'by-api-key')).toMatch(/No API key given<\/th><td class="num">5<\/td>/);
    });

    it('says so when no usage named a user or key', () => {
      const none = renderUsagePage(report({ byUser: [], byApiKey: [] }), options);
      expect(none).toContain('No usage in this range named a user.');
      expect(none).toContain('No usage in this range named an API key.');
    });
  });

  describe('safety', () => {
    const hostile = '<script>alert("x")</script>&\'';
    const html = renderUsagePage(
      report({
        accountId: `acme${hostile}`,
        webhooks: [{ webhookId: `wh${hostile}`, dispatched: 1, not_triggered: 0 }],
        byUser: [{ userId: `u${hostile}`, api: 1, company: 0 }],
        byApiKey: [{ apiKeyId: `k${hostile}`, api: 1 }],
        purchases: [{ ...report().purchases[0]!, purchaseId: `p${hostile}`, invoiceId: `i${hostile}`, currency: 'X<' }],
      }),
      { formAction: `/usage-page/a"><script>`, hiddenFields: { [`n${hostile}`]: `v${hostile}` } },
    );

    it('escapes every string that comes from the report or the link', () => {
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toContain('alert("x")');
      const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;';
      for (const prefix of ['acme', 'wh', 'u', 'k', 'p', 'i', 'n', 'v']) expect(html).toContain(`${prefix}${escaped}`);
      expect(html).toContain('<title>Usage — acme&lt;script&gt;');
      expect(html).toContain('action="/usage-page/a&quot;&gt;&lt;script&gt;"');
    });

    it('is self-contained: no script, and nothing loaded from anywhere else', () => {
      const page = renderUsagePage(sampleUsageReport(), options);
      expect(page).not.toMatch(/https?:/i);
      expect(page).not.toMatch(/(src|href|action)\s*=\s*"?\/\//i);
      expect(page).not.toMatch(/<(script|link|iframe|img|object|embed)\b/i);
      expect(page).not.toMatch(/@import|url\(/i);
    });

    it('asks the browser not to leak the signed URL', () => {
      expect(html).toContain('<meta name="referrer" content="no-referrer">');
      expect(html).toContain('<meta name="robots" content="noindex, nofollow">');
    });
  });

  it('is a complete document titled with the account', () => {
    const html = renderUsagePage(report(), options);
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<title>Usage — acme</title>');
    expect(html).toContain('<h1>acme</h1>');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(count(html, /<th scope="col"/)).toBeGreaterThan(20);
  });
});

describe('a count on the page', () => {
  const intl = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

  it('is written as en-US writes it, grouped by thousands', () => {
    const values = [0, 1, -1, 12, 123, 999, 1_000, -1_000, 12_345, 999_999, 1_000_000, -1_234_567, 2 ** 31, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 2_000; i++) values.push(Math.floor((Math.random() - 0.3) * 10 ** (i % 16)));
    for (const value of values) expect([value, num(value)]).toEqual([value, intl.format(value)]);
  });

  it('leaves what is not a whole number to the Intl formatter', () => {
    for (const value of [1.5, 1234.4, -0.6, 1e21]) expect(num(value)).toBe(intl.format(value));
  });
});
