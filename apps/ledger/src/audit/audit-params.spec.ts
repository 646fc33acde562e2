import { financeAsOf, positionOf, revisionOf, statementPeriodOf } from './audit-params.js';

const NOW = Date.parse('2026-06-15T12:00:00.000Z');

function fieldsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    const problem = error as { status: number; extensions: { fields: { field: string }[] } };
    expect(problem.status).toBe(400);
    return problem.extensions.fields.map((f) => f.field);
  }
  throw new Error('expected a validation problem');
}

describe('audit query parameters', () => {
  describe('asOf for the liability and the breakage', () => {
    it('a date means the last millisecond of that day in UTC', () => {
      expect(new Date(financeAsOf({ asOf: '2026-01-31' }, NOW)).toISOString()).toBe('2026-01-31T23:59:59.999Z');
    });

    it('an instant means itself, whatever its offset', () => {
      expect(financeAsOf({ asOf: '2026-02-01T01:00:00+02:00' }, NOW)).toBe(Date.parse('2026-01-31T23:00:00.000Z'));
    });

    it('defaults to now', () => {
      expect(financeAsOf({}, NOW)).toBe(NOW);
    });

    it('refuses a day that has not ended and an instant in the future', () => {
      expect(fieldsOf(() => financeAsOf({ asOf: '2026-06-15' }, NOW))).toEqual(['asOf']);
      expect(financeAsOf({ asOf: '2026-06-14' }, NOW)).toBe(Date.parse('2026-06-14T23:59:59.999Z'));
      expect(fieldsOf(() => financeAsOf({ asOf: '2026-06-15T12:00:00.001Z' }, NOW))).toEqual(['asOf']);
    });
  });

  describe('a statement period', () => {
    it('may be a single instant, not backwards, not in the future', () => {
      expect(statementPeriodOf({ from: '2026-01-01', to: '2026-01-01' }, NOW)).toEqual({ from: Date.parse('2026-01-01'), to: Date.parse('2026-01-01') });
      expect(fieldsOf(() => statementPeriodOf({ from: '2026-02-01', to: '2026-01-01' }, NOW))).toEqual(['from']);
      expect(fieldsOf(() => statementPeriodOf({ from: '2026-01-01', to: '2026-07-01' }, NOW))).toEqual(['to']);
    });
  });

  describe('cursors', () => {
    it('revisions and positions up to 2^63 - 1', () => {
      expect(revisionOf(undefined)).toBe(0n);
      expect(revisionOf('9223372036854775807')).toBe(9223372036854775807n);
      expect(fieldsOf(() => revisionOf('9223372036854775808'))).toEqual(['from']);
      expect(positionOf(undefined)).toBeUndefined();
      expect(positionOf('12:10')).toEqual({ commit: 12n, prepare: 10n });
      expect(fieldsOf(() => positionOf('9223372036854775808'))).toEqual(['after']);
    });
  });
});
