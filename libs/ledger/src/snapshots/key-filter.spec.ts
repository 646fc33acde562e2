import { KeyFilter } from './key-filter.js';

/** Request ids as callers make them, and some no caller would: empty, astral, lone surrogates, long. */
function keys(count: number, prefix: string): string[] {
  const odd = ['', '\u{1F600}', '\uD800', '\uDC00x', 'é'.repeat(300), 'request:', 'webhook:\u0000'];
  return Array.from({ length: count }, (_, i) => (i < odd.length ? `${prefix}${odd[i]}` : `${prefix}request:rq-${i.toString(36)}-${(i * 2654435761) % 9973}`));
}

function falsePositives(filter: KeyFilter, absent: readonly string[]): number {
  return absent.filter((key) => filter.mightHold(key)).length / absent.length;
}

describe('KeyFilter', () => {
  it('holds nothing when empty', () => {
    const filter = KeyFilter.empty();
    expect(filter.size).toBe(0);
    expect(keys(1_000, 'a').some((key) => filter.mightHold(key))).toBe(false);
  });

  it('always finds a key it was given, however many it grows to hold', () => {
    const filter = KeyFilter.empty();
    const given = keys(200_000, 'in:');
    for (const key of given) filter.add(key);
    expect(filter.size).toBe(200_000);
    expect(given.every((key) => filter.mightHold(key))).toBe(true);
  });

  it('answers "perhaps" for about 0.2% of keys it was not given, at its capacity and after growing past it', () => {
    const absent = keys(100_000, 'out:');
    // Made for 16,384 keys (its table is a power of two): exactly full.
    const filter = KeyFilter.empty(16_384);
    for (const key of keys(16_384, 'in:')) filter.add(key);
    expect(falsePositives(filter, absent)).toBeLessThan(0.004);
    // Fifteen times as many: three more layers, each about as precise as the first.
    for (const key of keys(245_760, 'more:')) filter.add(key);
    expect(falsePositives(filter, absent)).toBeLessThan(0.012);
  });

  it('sets each key\'s bits in one block of 512, and different blocks for different keys', () => {
    const filter = KeyFilter.of(['request:a'], 1);
    const { bits } = filter.onlyLayer;
    const blocks = new Set<number>();
    bits.forEach((word, i) => {
      if (word !== 0) blocks.add(Math.floor(i / 16));
    });
    expect(blocks.size).toBe(1);
    const set = bits.reduce((sum, word) => sum + word.toString(2).replaceAll('0', '').length, 0);
    expect(set).toBe(8);
    const many = KeyFilter.of(keys(1_000, 'spread:'), 1_000).onlyLayer.bits;
    const used = new Set<number>();
    many.forEach((word, i) => {
      if (word !== 0) used.add(Math.floor(i / 16));
    });
    // 1,000 keys over 512 blocks: a bad choice of block would pile them into a few.
    expect(used.size).toBeGreaterThan(400);
  });

  it('tells apart keys that differ in one unit, or only in length', () => {
    const filter = KeyFilter.of(['request:a', 'request:ab', 'x'], 3);
    for (const key of ['request:a', 'request:ab', 'x']) expect(filter.mightHold(key)).toBe(true);
    const near = ['request:b', 'request:ba', 'request:', 'request:a\u0000', 'x\u0000', 'X', ''];
    expect(near.filter((key) => filter.mightHold(key))).toEqual([]);
  });

  describe('sent to another thread as its one layer', () => {
    it('answers there as it did here', () => {
      const given = keys(30_000, 'in:');
      const here = KeyFilter.of(given, given.length);
      const { capacity, bits } = here.onlyLayer;
      const there = KeyFilter.fromLayer(structuredClone({ capacity, bits }), here.size);
      expect(given.every((key) => there.mightHold(key))).toBe(true);
      const absent = keys(20_000, 'out:');
      expect(absent.map((key) => there.mightHold(key))).toEqual(absent.map((key) => here.mightHold(key)));
      there.add('later');
      expect(there.mightHold('later')).toBe(true);
    });

    it('refuses bits that cannot be a layer, and a count past its capacity', () => {
      expect(() => KeyFilter.fromLayer({ capacity: 100, bits: new Uint32Array(3) }, 1)).toThrow(RangeError);
      expect(() => KeyFilter.fromLayer({ capacity: 0, bits: new Uint32Array(4) }, 0)).toThrow(RangeError);
      expect(() => KeyFilter.fromLayer({ capacity: 10, bits: new Uint32Array(4) }, 11)).toThrow(RangeError);
    });

    it('is not taken from a filter that grew', () => {
      const filter = KeyFilter.empty();
      for (const key of keys(40_000, 'in:')) filter.add(key);
      expect(() => filter.onlyLayer).toThrow(/more than one layer/);
    });
  });
});
