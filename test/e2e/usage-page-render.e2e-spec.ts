import { tmpdir } from 'node:os';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { renderUsagePage } from '../../apps/ledger/src/usage/usage-page.renderer.js';
import { launchBrowser } from '../support/browser.js';
import { sampleUsageReport } from '../support/sample-usage-report.js';

// The screenshot in docs/ is refreshed on demand (UPDATE_SCREENSHOTS=1), never by an ordinary test run.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? resolve(process.cwd(), 'docs/usage-page.png')
  : resolve(tmpdir(), `usage-page-${process.pid}.png`);
const report = sampleUsageReport();
const hiddenFields = { exp: '1775060400000', sig: 'c2lnbmF0dXJlLW9mLXRoZS1saW5r' };
const formAction = `/usage-page/${encodeURIComponent(report.accountId)}`;

/**
 * The usage page in a real browser (design §4 "Real parts"): the HTML the renderer produces is served
 * over HTTP, as the ledger serves it, and read, clicked and photographed by Chromium.
 */
describe('the usage page in Chromium', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const served: string[] = [];
  const requested: string[] = [];

  beforeAll(async () => {
    const html = renderUsagePage(report, { formAction, hiddenFields });
    server = createServer((req, res) => {
      served.push(req.url ?? '');
      if (req.url === '/favicon.ico') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${origin}${formAction}?${new URLSearchParams(hiddenFields)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
  });

  it('draws one day group per day of the range in the credits chart', async () => {
    expect(report.days).toHaveLength(30);
    expect(await page.locator('svg[role="img"] g.day').count()).toBe(30);
    const dates = await page.locator('g.day').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-date')));
    expect(dates).toEqual(report.days.map((d) => d.date));
  });

  it('shows the idle day as an empty column rather than leaving it out', async () => {
    const idle = page.locator('g.day[data-date="2026-03-15"]');
    expect(await idle.count()).toBe(1);
    expect(await idle.locator('rect.bar').count()).toBe(0);
    expect(await idle.locator(':scope > title').textContent()).toContain('no credits');
  });

  it('renders the bars with a real height on the screen', async () => {
    const busiest = report.days.reduce((a, b) => (b.credits.api + b.credits.company > a.credits.api + a.credits.company ? b : a));
    const box = await page.locator(`g.day[data-date="${busiest.date}"] rect.bar`).first().boundingBox();
    expect(box?.height ?? 0).toBeGreaterThan(20);
  });

  it('offers a time-zone picker with the report zone selected', async () => {
    const select = page.locator('select[name="timezone"]');
    expect(await select.count()).toBe(1);
    expect(await select.inputValue()).toBe('Europe/Madrid');
    expect(await select.locator('option').count()).toBeGreaterThan(300);
  });

  it('loads nothing but the page itself', () => {
    expect(requested.filter((url) => !url.startsWith(origin))).toEqual([]);
  });

  it('saves a full-page screenshot for the docs', async () => {
    mkdirSync(resolve(SCREENSHOT, '..'), { recursive: true });
    const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // A blank or cut-off capture would be a few kilobytes; the whole page is far taller than the viewport.
    expect(png.length).toBeGreaterThan(50_000);
    expect(png.readUInt32BE(20)).toBeGreaterThan(1_500);
  });

  it('submits a new range and zone to the same link, keeping its signature', async () => {
    await page.fill('input[name="from"]', '2026-02-01');
    await page.fill('input[name="to"]', '2026-02-28');
    await page.selectOption('select[name="timezone"]', 'Asia/Tokyo');
    await Promise.all([page.waitForURL((url) => url.searchParams.get('from') === '2026-02-01'), page.click('button[type="submit"]')]);

    const url = new URL(page.url());
    expect(url.origin).toBe(origin);
    expect(url.pathname).toBe(formAction);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      ...hiddenFields,
      from: '2026-02-01',
      to: '2026-02-28',
      timezone: 'Asia/Tokyo',
    });
    expect(served.at(-1)).toBe(`${url.pathname}${url.search}`);
  });
});
