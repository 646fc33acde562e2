import { evictWithSecondChance } from './second-chance-eviction.js';

const held = (...entries: [string, boolean][]) => new Map(entries.map(([key, used]) => [key, { used, pinned: key.startsWith('pinned') }]));

describe('evicting with a second chance', () => {
  it('removes the oldest entries not used since the last sweep, up to what is enough', () => {
    const entries = held(['a', false], ['b', false], ['c', false]);
    expect(evictWithSecondChance(entries, (removed) => removed === 2)).toBe(2);
    expect([...entries.keys()]).toEqual(['c']);
  });

  it('spares an entry used since, once, and moves it to the young end', () => {
    const entries = held(['a', true], ['b', false], ['c', false]);
    expect(evictWithSecondChance(entries, (removed) => removed === 1)).toBe(1);
    expect([...entries.keys()]).toEqual(['c', 'a']);
    expect(entries.get('a')!.used).toBe(false);
    // Not used again: the next sweep takes it before the younger one.
    evictWithSecondChance(entries, (removed) => removed === 1);
    expect([...entries.keys()]).toEqual(['a']);
  });

  it('keeps what may not be evicted where it is', () => {
    const entries = held(['pinned', false], ['b', false], ['c', false]);
    expect(evictWithSecondChance(entries, (removed) => removed === 1, (entry) => !entry.pinned)).toBe(1);
    expect([...entries.keys()]).toEqual(['pinned', 'c']);
  });

  it('stops short when the whole map is swept', () => {
    const entries = held(['a', true], ['b', false]);
    expect(evictWithSecondChance(entries, (removed) => removed === 5)).toBe(1);
    expect([...entries.keys()]).toEqual(['a']);
  });
});
