import { instantOf, iso } from './time.js';

describe('instantOf', () => {
  it('reads every instant an event can carry exactly as Date.parse does', () => {
    // Spread over 1900–2200, with every millisecond digit and both sides of leap days and years.
    for (let instant = Date.UTC(1900, 0, 1); instant < Date.UTC(2200, 0, 1); instant += 86_400_000 * 37 + 3_600_000 * 5 + 61_001 + 7) {
      const text = iso(instant);
      expect(instantOf(text)).toBe(instant);
    }
    for (const text of ['2024-02-29T23:59:59.999Z', '2000-02-29T00:00:00.000Z', '1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '0000-01-01T00:00:00.000Z']) {
      expect(instantOf(text)).toBe(Date.parse(text));
    }
  });

  it('gives what Date.parse gives for days past the end of a month, and for anything out of range or not canonical', () => {
    const texts = [
      '2026-02-29T00:00:00.000Z', // rolls on into March, as Date.parse does
      '2026-02-31T12:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-02-32T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-12-00T00:00:00.000Z',
      '2026-12-01T24:00:00.000Z',
      '2026-12-01T23:60:00.000Z',
      '2026-12-01T23:59:60.000Z',
      '2026-1a-01T00:00:00.000Z',
      '2026-12-01T00:00:00.00aZ',
      '2026-12-01 00:00:00.000Z',
      '2026-12-01T00:00:00.000+',
      '2026-12-01T00:00:00Z',
      '2026-12-01T00:00:00.000+01:00',
      '+002026-12-01T00:00:00.000Z',
      '2026-12-01',
      '',
      'not a date at all, 24 ch',
    ];
    for (const text of texts) expect([text, instantOf(text)]).toEqual([text, Date.parse(text)]);
  });
});
