/**
 * Bits per key at a layer's capacity, and probes per key. The probes of a key all fall in one block of
 * 512 bits (a cache line): a blocked Bloom filter (Putze, Sanders and Singler, 2007), about 0.2% false
 * positives per layer at its capacity. A plain one (10 bits, 7 probes anywhere in the table) had 0.8%
 * and cost seven cache misses a key where this costs one: on a busy account whose entries left memory,
 * every new request id is asked about, and every false positive is a read of the snapshot store.
 */
const BITS_PER_KEY = 16;
const PROBES = 8;
const BLOCK_WORDS = 16;
const SMALLEST_CAPACITY = 1 << 14;

/** One Bloom filter: `2^n` bits in blocks of 512, `capacity` keys before a new layer takes over. */
export interface KeyFilterLayer {
  readonly capacity: number;
  readonly bits: Uint32Array<ArrayBuffer>;
}

// Read once: inside a vm context (where the tests run) each lookup of a global is an interceptor call.
const { imul } = Math;

/** The two hashes of the last key hashed (no array per key on the hot path). */
let first = 0;
let second = 0;

/**
 * FNV-1a and a multiply-rotate hash over the key's UTF-16 units, each finished with murmur3's mix:
 * `first` chooses the block, `second` the bits in it (see `stepOf`).
 */
function hash(key: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    a = imul(a ^ unit, 0x01000193);
    b = imul(b ^ unit, 0x5bd1e995);
    b = (b << 13) | (b >>> 19);
  }
  first = mix(a);
  second = mix(b ^ key.length) | 1;
}

function mix(h: number): number {
  h = imul(h ^ (h >>> 16), 0x85ebca6b);
  h = imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Probe `i` of the last key hashed is bit `second + i * step` of its block, modulo 512 (Kirsch and
 * Mitzenmacher, 2006); `step` is odd, so the probes are all different.
 */
function stepOf(hashed: number): number {
  return (hashed >>> 9) | 1;
}

/** The first word of the last key's block in a table of `words` words. */
function blockOf(words: number): number {
  return (first & (words / BLOCK_WORDS - 1)) * BLOCK_WORDS;
}

function layerFor(capacity: number): KeyFilterLayer {
  let size = BLOCK_WORDS * 32;
  while (size < capacity * BITS_PER_KEY) size *= 2;
  // The table is a power of two: it has room for more keys than asked.
  return { capacity: Math.floor(size / BITS_PER_KEY), bits: new Uint32Array(size / 32) };
}

/**
 * A set of strings that answers "certainly not" or "perhaps": a Bloom filter that grows by adding
 * layers, each twice the capacity of the last (a scalable Bloom filter, Almeida et al., 2007), so its
 * false positives stay near 0.2% per layer however many keys it is given (1.1% over the six layers of a
 * million keys, in 2 MiB). A key added is always found: the filter never answers "certainly not" for it.
 */
export class KeyFilter {
  private readonly layers: KeyFilterLayer[];
  private keys = 0;
  /** Keys the newest layer took. */
  private inNewest = 0;

  private constructor(layers: KeyFilterLayer[], keys: number) {
    this.layers = layers;
    this.keys = keys;
    this.inNewest = keys;
  }

  /** An empty filter; its first layer is made for `expected` keys. */
  static empty(expected = 0): KeyFilter {
    return new KeyFilter([layerFor(Math.max(SMALLEST_CAPACITY, expected))], 0);
  }

  /** A filter of the `count` keys `keys` gives. */
  static of(keys: Iterable<string>, count: number): KeyFilter {
    const filter = KeyFilter.empty(count);
    for (const key of keys) filter.add(key);
    return filter;
  }

  /** The filter a `layer` of `keys` keys is, as sent from another thread (the bits are taken over). */
  static fromLayer(layer: KeyFilterLayer, keys: number): KeyFilter {
    const words = layer.bits.length;
    if (!Number.isInteger(layer.capacity) || layer.capacity <= 0 || words < BLOCK_WORDS || (words & (words - 1)) !== 0 || keys > layer.capacity) {
      throw new RangeError(`not a key filter layer: capacity ${layer.capacity}, ${words} words, ${keys} keys`);
    }
    return new KeyFilter([layer], keys);
  }

  /** Keys added (a key added twice counts twice). */
  get size(): number {
    return this.keys;
  }

  /** The only layer of a filter that never grew, to send to another thread. */
  get onlyLayer(): KeyFilterLayer {
    if (this.layers.length !== 1) throw new Error('A key filter that grew has more than one layer');
    return this.layers[0]!;
  }

  add(key: string): void {
    let layer = this.layers[this.layers.length - 1]!;
    if (this.inNewest >= layer.capacity) {
      layer = layerFor(2 * layer.capacity);
      this.layers.push(layer);
      this.inNewest = 0;
    }
    hash(key);
    const { bits } = layer;
    const block = blockOf(bits.length);
    const step = stepOf(second);
    for (let i = 0, probe = second; i < PROBES; i++, probe += step) {
      const bit = probe & 511;
      bits[block + (bit >>> 5)]! |= 1 << (bit & 31);
    }
    this.keys += 1;
    this.inNewest += 1;
  }

  /** False only for a key never added. */
  mightHold(key: string): boolean {
    if (this.keys === 0) return false;
    hash(key);
    const step = stepOf(second);
    for (const { bits } of this.layers) {
      const block = blockOf(bits.length);
      let all = true;
      for (let i = 0, probe = second; i < PROBES; i++, probe += step) {
        const bit = probe & 511;
        if ((bits[block + (bit >>> 5)]! & (1 << (bit & 31))) === 0) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }
}
