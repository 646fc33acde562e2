import { instantOf } from '../shared/time.js';
import { priceTableAt, unitPriceAt, type PricedItem, type PriceTable } from './price-table.js';

const LAST_LEGACY_MS = instantOf('2024-12-31T23:59:59.999Z');
const CUT_OVER = instantOf('2025-01-01T00:00:00.000Z');

describe('the price table in force (rule 6)', () => {
  describe('before 2025-01-01, the legacy table charged one credit per record of any kind', () => {
    it.each<[PricedItem, number]>([
      ['job_search', 1],
      ['company_search', 1],
      ['technographics', 1],
      ['webhook_job', 1],
      ['webhook_company', 1],
    ])('%s costs %i', (item, unitPrice) => {
      expect(unitPriceAt(item, instantOf('2024-06-01T12:00:00.000Z'))).toEqual({ unitPrice, priceTable: '2023-legacy' });
    });
  });

  describe('from 2025-01-01, companies cost 3', () => {
    it.each<[PricedItem, number]>([
      ['job_search', 1],
      ['company_search', 3],
      ['technographics', 3],
      ['webhook_job', 1],
      ['webhook_company', 3],
    ])('%s costs %i', (item, unitPrice) => {
      expect(unitPriceAt(item, instantOf('2026-03-01T10:00:00.000Z'))).toEqual({ unitPrice, priceTable: '2025-01' });
    });
  });

  describe('at the effective date', () => {
    it('the millisecond before, the old table still applies', () => {
      expect(unitPriceAt('company_search', LAST_LEGACY_MS)).toEqual({ unitPrice: 1, priceTable: '2023-legacy' });
    });

    it('at the effective instant itself, the new table applies (effective dates are inclusive)', () => {
      expect(unitPriceAt('company_search', CUT_OVER)).toEqual({ unitPrice: 3, priceTable: '2025-01' });
    });
  });

  describe('with tables that start later than the charge', () => {
    const tables: PriceTable[] = [
      {
        version: 'only',
        effectiveFrom: '2030-01-01T00:00:00.000Z',
        apiCreditsPerRecord: { job_search: 2, company_search: 5, technographics: 5, webhook_job: 2, webhook_company: 5 },
      },
    ];

    it('refuses to guess a price', () => {
      expect(() => priceTableAt(instantOf('2029-12-31T23:59:59.999Z'), tables)).toThrow(
        'No price table in effect at 2029-12-31T23:59:59.999Z',
      );
      expect(priceTableAt(instantOf('2030-01-01T00:00:00.000Z'), tables).version).toBe('only');
    });
  });
});
