/** Bits per key at a layer's capacity, and probes per key: about 0.8% false positives (Bloom, 1970). */
const BITS_PER_KEY = 10;
const PROBES = 7;
const SMALLEST_CAPACITY = 1 << 14;

/** One Bloom filter: `2^n` bits, `capacity` keys before a new layer takes over. */
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
 * FNV-1a and a multiply-rotate hash over the key's UTF-16 units, each finished with murmur3's mix;
 * probe `i` is `first + i * second` (Kirsch and Mitzenmacher, 2006), with `second` odd so that the
 * probes of a power-of-two table are all different.
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

function layerFor(capacity: number): KeyFilterLayer {
  let size = 32;
  while (size < capacity * BITS_PER_KEY) size *= 2;
  // The table is a power of two: it has room for more keys than asked.
  return { capacity: Math.floor(size / BITS_PER_KEY), bits: new Uint32Array(size / 32) };
}

/**
 * A set of strings that answers "certainly not" or "perhaps": a Bloom filter that grows by adding
 * layers, each twice the capacity of the last (a scalable Bloom filter, Almeida et al., 2007), so its
 * false positives stay near 1% per layer however many keys it is given. A key added is always found:
 * the filter never answers "certainly not" for it.
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
    if (!Number.isInteger(layer.capacity) || layer.capacity <= 0 || words === 0 || (words & (words - 1)) !== 0 || keys > layer.capacity) {
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
    const mask = bits.length * 32 - 1;
    for (let i = 0, probe = first; i < PROBES; i++, probe = (probe + second) >>> 0) {
      const bit = probe & mask;
      bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.keys += 1;
    this.inNewest += 1;
  }

  /** False only for a key never added. */
  mightHold(key: string): boolean {
    if (this.keys === 0) return false;
    hash(key);
    for (const { bits } of this.layers) {
      const mask = bits.length * 32 - 1;
      let all = true;
      for (let i = 0, probe = first; i < PROBES; i++, probe = (probe + second) >>> 0) {
        const bit = probe & mask;
        if ((bits[bit >>> 5]! & (1 << (bit & 31))) === 0) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }
}
