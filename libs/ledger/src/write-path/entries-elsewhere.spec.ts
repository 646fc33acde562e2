import { KeyFilter } from '../snapshots/key-filter.js';
import { EntriesElsewhere, LOOKUPS_BEFORE_FILTER } from './entries-elsewhere.js';

/** A build whose answer the test gives when it likes. */
function pendingBuild() {
  let answer!: { resolve: (filter: KeyFilter) => void; reject: (error: Error) => void };
  const calls: number[] = [];
  const build = () => {
    calls.push(calls.length);
    return new Promise<KeyFilter>((resolve, reject) => (answer = { resolve, reject }));
  };
  return { build, calls, answer: () => answer };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function lookUp(elsewhere: EntriesElsewhere, times: number, build: () => Promise<KeyFilter>): void {
  for (let i = 0; i < times; i++) elsewhere.lookedUp(build);
}

describe('EntriesElsewhere', () => {
  describe('for an account folded in this process', () => {
    it('knows a key is new until it has left memory, and then never says it is new', () => {
      const elsewhere = EntriesElsewhere.known();
      expect(elsewhere.mightHold('request:r-1')).toBe(false);
      elsewhere.left('request:r-1');
      expect(elsewhere.mightHold('request:r-1')).toBe(true);
      expect(elsewhere.mightHold('request:r-2')).toBe(false);
    });

    it('never asks the store for a filter', () => {
      const { build, calls } = pendingBuild();
      const elsewhere = EntriesElsewhere.known();
      lookUp(elsewhere, 5 * LOOKUPS_BEFORE_FILTER, build);
      expect(calls).toHaveLength(0);
    });
  });

  describe('for an account loaded from a snapshot', () => {
    it('looks every key up until the store has built the filter, asked for once after enough lookups', async () => {
      const { build, calls, answer } = pendingBuild();
      const elsewhere = EntriesElsewhere.unknown();
      expect(elsewhere.mightHold('request:new')).toBe(true);
      lookUp(elsewhere, LOOKUPS_BEFORE_FILTER - 1, build);
      expect(calls).toHaveLength(0);
      lookUp(elsewhere, 10, build);
      expect(calls).toHaveLength(1);
      expect(elsewhere.mightHold('request:new')).toBe(true);

      answer().resolve(KeyFilter.of(['request:old'], 1));
      await settle();
      expect(elsewhere.mightHold('request:new')).toBe(false);
      expect(elsewhere.mightHold('request:old')).toBe(true);
      lookUp(elsewhere, 5 * LOOKUPS_BEFORE_FILTER, build);
      expect(calls).toHaveLength(1);
    });

    it('adds the keys that left memory while the filter was being built', async () => {
      const { build, answer } = pendingBuild();
      const elsewhere = EntriesElsewhere.unknown();
      lookUp(elsewhere, LOOKUPS_BEFORE_FILTER, build);
      elsewhere.left('request:left-while-building');
      answer().resolve(KeyFilter.of(['request:old'], 1));
      await settle();
      expect(elsewhere.mightHold('request:left-while-building')).toBe(true);
      elsewhere.left('request:left-after');
      expect(elsewhere.mightHold('request:left-after')).toBe(true);
      expect(elsewhere.mightHold('request:new')).toBe(false);
    });

    it('keeps looking keys up when the build fails, and asks again after as many lookups', async () => {
      const { build, calls, answer } = pendingBuild();
      const elsewhere = EntriesElsewhere.unknown();
      lookUp(elsewhere, LOOKUPS_BEFORE_FILTER, build);
      elsewhere.left('request:left-while-failing');
      answer().reject(new Error('disk I/O error'));
      await settle();
      expect(elsewhere.mightHold('request:new')).toBe(true);
      lookUp(elsewhere, LOOKUPS_BEFORE_FILTER - 1, build);
      expect(calls).toHaveLength(1);
      lookUp(elsewhere, 1, build);
      expect(calls).toHaveLength(2);
      // The second build is asked for after that key was stored: the store's scan finds it.
      answer().resolve(KeyFilter.of(['request:left-while-failing'], 1));
      await settle();
      expect(elsewhere.mightHold('request:left-while-failing')).toBe(true);
      expect(elsewhere.mightHold('request:new')).toBe(false);
    });
  });
});
