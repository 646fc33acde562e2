import { csvDocument, csvField, csvRecord } from './csv.js';

describe('CSV (RFC 4180)', () => {
  it('leaves plain fields as they are', () => {
    expect(csvRecord(['acme', 42, -3, 10n, true, '2026-01-01T00:00:00.000Z'])).toBe('acme,42,-3,10,true,2026-01-01T00:00:00.000Z\r\n');
  });

  it('writes nothing for a missing value', () => {
    expect(csvRecord([null, 'x', undefined])).toBe(',x,\r\n');
  });

  it.each([
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['line\nbreak', '"line\nbreak"'],
    ['carriage\rreturn', '"carriage\rreturn"'],
    ['{"credits":5,"allocations":[{"purchaseId":"p"}]}', '"{""credits"":5,""allocations"":[{""purchaseId"":""p""}]}"'],
    ['', ''],
  ])('quotes %j as %j', (value, field) => {
    expect(csvField(value)).toBe(field);
  });

  it('ends every record, the last one included, with CRLF', () => {
    expect(csvDocument(['a', 'b'], [[1, 2], [3, 'x,y']])).toBe('a,b\r\n1,2\r\n3,"x,y"\r\n');
    expect(csvDocument(['a', 'b'], [])).toBe('a,b\r\n');
  });

  it('refuses a row that would shift the columns, and a number that is not one', () => {
    expect(() => csvDocument(['a', 'b'], [[1]])).toThrow(RangeError);
    expect(() => csvField(Number.NaN)).toThrow(RangeError);
    expect(() => csvField(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
