import { Problem } from '../problems/problem.js';
import { negotiate } from './content-negotiation.js';

const OFFERED = ['application/json', 'application/x-ndjson', 'text/csv'] as const;

describe('choosing the representation from Accept', () => {
  it.each([
    [undefined, 'application/json'],
    ['', 'application/json'],
    ['*/*', 'application/json'],
    ['application/json', 'application/json'],
    ['text/csv', 'text/csv'],
    ['TEXT/CSV; charset=utf-8', 'text/csv'],
    ['application/x-ndjson', 'application/x-ndjson'],
    ['text/*', 'text/csv'],
    ['application/json;q=0.5, text/csv', 'text/csv'],
    ['text/csv;q=0.2, application/x-ndjson;q=0.9', 'application/x-ndjson'],
    ['text/csv, application/json', 'application/json'], // a tie goes to the first offered
    ['*/*;q=0.1, text/csv;q=0', 'application/json'], // q=0 means "not this one"
    ['text/html, */*;q=0.8', 'application/json'], // a browser
  ])('%j → %s', (accept, chosen) => {
    expect(negotiate(accept, [...OFFERED] as [string, ...string[]])).toBe(chosen);
  });

  it.each(['application/xml', 'text/csv;q=0, application/json;q=0, application/x-ndjson;q=0', 'image/*'])(
    'answers 406 when nothing offered is acceptable (%j)',
    (accept) => {
      let thrown: unknown;
      try {
        negotiate(accept, [...OFFERED] as [string, ...string[]]);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Problem);
      expect(thrown).toMatchObject({ status: 406, code: 'NOT_ACCEPTABLE', extensions: { available: [...OFFERED] } });
    },
  );
});
