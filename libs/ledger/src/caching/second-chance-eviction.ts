/** Something held in a cache that notes its use by setting a flag rather than moving in the map. */
export interface SecondChance {
  /** Used since the eviction sweep last passed it: it is spared once more. */
  used: boolean;
}

/**
 * Sweeps `entries` oldest first (a map's insertion order) until `enough(removed)`, removing those
 * `evictable` allows and giving each entry used since the sweep last passed it a second chance: its flag is
 * cleared and it moves to the young end. This is CLOCK, the approximation of least recently used that
 * costs a use only a flag, where moving an entry to the young end on every use cost a delete and an insert
 * (and a rehash of the map now and then). Returns how many entries it removed.
 */
export function evictWithSecondChance<K, V extends SecondChance>(
  entries: Map<K, V>,
  enough: (removed: number) => boolean,
  evictable: (value: V) => boolean = () => true,
): number {
  const spared: [K, V][] = [];
  let removed = 0;
  for (const [key, value] of entries) {
    if (enough(removed)) break;
    if (value.used) {
      value.used = false;
      spared.push([key, value]);
      continue;
    }
    if (!evictable(value)) continue;
    entries.delete(key);
    removed += 1;
  }
  for (const [key, value] of spared) {
    entries.delete(key);
    entries.set(key, value);
  }
  return removed;
}
