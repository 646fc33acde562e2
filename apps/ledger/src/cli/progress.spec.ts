import { jest } from '@jest/globals';
import { progressReporter } from './progress.js';

describe('the progress bar', () => {
  afterEach(() => jest.restoreAllMocks());

  function reporting(isTTY: boolean) {
    const written: string[] = [];
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const stream = { isTTY, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream;
    const progress = progressReporter(stream, 'verify', 0n, 100n);
    const at = (ms: number, done: bigint) => {
      now = 1_000_000 + ms;
      progress.update(Number(done) * 10, done);
    };
    return { written, at, done: () => progress.done(1000, 100n) };
  }

  it('writes a line every two seconds, and the last, where it is not a terminal (a log keeps every line)', () => {
    const { written, at, done } = reporting(false);
    for (const [ms, done] of [[1, 1n], [500, 10n], [1_500, 30n], [2_100, 42n], [3_000, 60n], [4_200, 84n]] as const) at(ms, done);
    done();
    expect(written.map((line) => line.match(/ (\d+\.\d)% /)?.[1])).toEqual(['1.0', '42.0', '84.0', '100.0']);
    expect(written.every((line) => line.endsWith('\n'))).toBe(true);
    expect(written.at(-1)).toMatch(/ETA done\n$/);
  });

  it('redraws its line every tenth of a second on a terminal', () => {
    const { written, at, done } = reporting(true);
    for (const [ms, done] of [[1, 1n], [50, 5n], [150, 15n], [200, 20n], [260, 26n]] as const) at(ms, done);
    done();
    expect(written.filter((text) => text.startsWith('\r')).map((line) => line.match(/ (\d+\.\d)% /)?.[1])).toEqual(['1.0', '15.0', '26.0', '100.0']);
    expect(written.at(-1)).toBe('\n');
  });
});
