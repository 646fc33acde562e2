import { USAGE_SOURCES, type BySource, type UsageDay, type UsageReport } from '#ledger';
import { sampleUsageReport } from '../../../../test/support/sample-usage-report.js';
import { csvField, usageReportCsv } from './usage-report.csv.js';

function day(date: string, bySource: Partial<BySource>, requests: number, dispatched = 0, notTriggered = 0): UsageDay {
  const s = { ...Object.fromEntries(USAGE_SOURCES.map((k) => [k, 0])), ...bySource } as BySource;
  return {
    date,
    credits: { api: s.job_search + s.company_search + s.technographics + s.webhooks, company: s.reveals + s.exports },
    bySource: s,
    requests,
    webhookEvents: { dispatched, not_triggered: notTriggered },
  };
}

const report: UsageReport = {
  ...sampleUsageReport(),
  from: '2026-03-01',
  to: '2026-03-03',
  days: [day('2026-03-01', { job_search: 10, technographics: 6, reveals: 2 }, 4, 0, 0), day('2026-03-03', { webhooks: 4, exports: 1 }, 5, 4, 2)],
  totals: {
    credits: { api: 20, company: 3 },
    bySource: { job_search: 10, company_search: 0, technographics: 6, webhooks: 4, reveals: 2, exports: 1 },
    requests: 9,
    webhookEvents: { dispatched: 4, not_triggered: 2 },
  },
};

describe('the usage report as CSV', () => {
  const csv = usageReportCsv(report);
  const lines = csv.split('\r\n');

  it('ends every line with CRLF, the last one included, and has no bare LF', () => {
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(lines.at(-1)).toBe('');
    expect(csv.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  });

  it('starts with a header naming each column', () => {
    expect(lines[0]).toBe(
      'date,api_credits,company_credits,job_search,company_search,technographics,webhooks,reveals,exports,requests,webhook_dispatched,webhook_not_triggered',
    );
  });

  it('has one row per day of the range, including days the report left out', () => {
    expect(lines.slice(1, -2)).toEqual([
      '2026-03-01,16,2,10,0,6,0,2,0,4,0,0',
      '2026-03-02,0,0,0,0,0,0,0,0,0,0,0',
      '2026-03-03,4,1,0,0,0,4,0,1,5,4,2',
    ]);
  });

  it('ends with the totals, labelled total', () => {
    expect(lines.at(-2)).toBe('total,20,3,10,0,6,4,2,1,9,4,2');
  });

  it('has as many fields in every row as in the header', () => {
    const widths = lines.slice(0, -1).map((line) => line.split(',').length);
    expect(new Set(widths)).toEqual(new Set([12]));
  });

  it('has a row for each of the 30 days of a month of usage', () => {
    const sample = sampleUsageReport();
    const rows = usageReportCsv(sample).split('\r\n');
    expect(rows).toHaveLength(1 + 30 + 1 + 1);
    expect(rows[1]!.startsWith(`${sample.from},`)).toBe(true);
    expect(rows[30]!.startsWith(`${sample.to},`)).toBe(true);
  });

  describe('quoting (RFC 4180)', () => {
    it('leaves plain fields alone', () => {
      expect(csvField('2026-03-01')).toBe('2026-03-01');
      expect(csvField('1234')).toBe('1234');
    });

    it('quotes fields with commas, quotes or line breaks, doubling the quotes', () => {
      expect(csvField('a,b')).toBe('"a,b"');
      expect(csvField('say "hi"')).toBe('"say ""hi"""');
      expect(csvField('two\r\nlines')).toBe('"two\r\nlines"');
      expect(csvField('one\nline')).toBe('"one\nline"');
    });

    it('quotes a field of the report that needs it', () => {
      const odd = usageReportCsv({ ...report, days: [day('2026,03,01', {}, 0)], from: 'x', to: 'x' });
      expect(odd.split('\r\n')[1]).toBe('"2026,03,01",0,0,0,0,0,0,0,0,0,0,0');
    });
  });
});
