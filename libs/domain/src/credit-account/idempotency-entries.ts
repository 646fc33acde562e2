import type { IdempotencyEntry } from './credit-account.state.js';

/**
 * An account's idempotency entries by key. A busy account keeps up to 100,000 in memory, nearly all of
 * them a charge's or a webhook's: those are held as their line of text (`entryText`), the form the
 * snapshot store keeps, and decoded only when read (a retry, or the answer to the command that made
 * it). Held as objects, each was an object, its key and its fingerprint, and V8 keeps a string joined by
 * `+` or a template literal, 13 characters or more, as a pair pointing to its parts: up to five objects
 * an entry. As one flat line under a flat key it is two: 122 bytes an entry instead of 178, and a full
 * collection of 175,000 of them takes about 13 ms instead of 23 (docs/benchmarks.md). The entries of
 * other kinds are rare and stay objects: a reveal's entry grows as the request's events are applied, one
 * company at a time.
 */
export class IdempotencyEntries {
  private readonly byKey = new Map<string, IdempotencyEntry | string>();
  /**
   * The line set last and the entry it was made from: the answer to the command that set it reads it
   * next, and need not decode it.
   */
  private lastLine: string | undefined;
  private lastEntry: IdempotencyEntry | undefined;

  get size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** A charge's or a webhook's entry is decoded from its line (or is the one set last): never change it. */
  get(key: string): IdempotencyEntry | undefined {
    const held = this.byKey.get(key);
    if (typeof held !== 'string') return held;
    return held === this.lastLine ? this.lastEntry : entryOfText(held);
  }

  set(key: string, entry: IdempotencyEntry): this {
    if (entry.kind === 'records' || entry.kind === 'webhook') {
      const line = entryText(entry);
      this.byKey.set(key, line);
      this.lastLine = line;
      this.lastEntry = entry;
    } else {
      this.byKey.set(key, entry);
    }
    return this;
  }

  /** The entry as the snapshot store keeps it, without decoding a line held as one. */
  textOf(key: string): string | undefined {
    const held = this.byKey.get(key);
    return held === undefined || typeof held === 'string' ? held : entryText(held);
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  *[Symbol.iterator](): IterableIterator<[string, IdempotencyEntry]> {
    for (const key of this.byKey.keys()) yield [key, this.get(key)!];
  }

  /** The entries under `keys` (those held here), in a new set of entries sharing what they hold. */
  only(keys: Iterable<string>): IdempotencyEntries {
    const only = new IdempotencyEntries();
    for (const key of keys) {
      const held = this.byKey.get(key);
      if (held !== undefined) only.byKey.set(key, held);
    }
    return only;
  }
}

/** The key of an entry, its kind's prefix and the command's id, as one flat string (see `flattened`). */
export function entryKey(prefix: string, id: string): string {
  return flattened(prefix + id);
}

/**
 * `text` as one string. V8 keeps a string joined by `+` or a template literal, 13 characters or more, as
 * a pair pointing to its parts until something reads it by index: reading a character then copies it
 * into one flat string, which the pair points to from then on, and the next scavenge makes every
 * reference to the pair one to that string. Half what `Array.prototype.join` of the parts costs, which
 * writes a flat string too (0.14 µs against 0.29 for a charge's line). `idempotency_entry_heap_bytes` in
 * the bench would show a line or a key left as a pair: about 20 bytes more an entry.
 */
function flattened(text: string): string {
  if (Number.isNaN(text.charCodeAt(0))) throw new Error('An empty idempotency key or entry');
  return text;
}

/**
 * An idempotency entry as the snapshot store keeps it, and as `IdempotencyEntries` holds a charge's and
 * a webhook's. Their entries are written as their fields in a fixed order, the fingerprint last
 * (`r1,3,3,9997,0,v1:…` for records billed, unit price, credits charged, then the api and company
 * credits available after it; `w` and `d` or `n` for a webhook dispatched or not triggered, then credits
 * charged and the two balances). `JSON.stringify` of such an entry, one for every command, was about a
 * tenth of the thread deciding a hot account's commands, and the JSON five times as long as the line.
 * Every other kind is JSON, which starts with `{`. The line is one flat string (see `flattened`).
 */
export function entryText(entry: IdempotencyEntry): string {
  switch (entry.kind) {
    case 'records':
      return flattened(`r${entry.recordsBilled},${entry.unitPrice},${entry.creditsCharged},${entry.apiAvailable},${entry.companyAvailable},${entry.fingerprint}`);
    case 'webhook':
      return flattened(`w${entry.status === 'dispatched' ? 'd' : 'n'}${entry.creditsCharged},${entry.apiAvailable},${entry.companyAvailable},${entry.fingerprint}`);
    default:
      return JSON.stringify(entry);
  }
}

/** The entry `entryText` wrote; throws on a text it cannot have written. */
export function entryOfText(text: string): IdempotencyEntry {
  switch (text[0]) {
    case '{':
      return JSON.parse(text) as IdempotencyEntry;
    case 'r': {
      const { numbers: [recordsBilled, unitPrice, creditsCharged, apiAvailable, companyAvailable], rest: fingerprint } = fields(text, 1, 5);
      return { kind: 'records', fingerprint, recordsBilled: recordsBilled!, unitPrice: unitPrice!, creditsCharged: creditsCharged!, apiAvailable: apiAvailable!, companyAvailable: companyAvailable! };
    }
    case 'w': {
      const status = text[1] === 'd' ? 'dispatched' : text[1] === 'n' ? 'not_triggered' : undefined;
      if (!status) throw notAnEntry(text);
      const { numbers: [creditsCharged, apiAvailable, companyAvailable], rest: fingerprint } = fields(text, 2, 3);
      return { kind: 'webhook', fingerprint, status, creditsCharged: creditsCharged!, apiAvailable: apiAvailable!, companyAvailable: companyAvailable! };
    }
    default:
      throw notAnEntry(text);
  }
}

const MINUS = 0x2d;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * `count` whole numbers, each followed by a comma, from `from`, then the rest of the text (the
 * fingerprint). Read digit by digit: 0.10-0.15 µs a charge's line, against 0.28-0.36 with a regular
 * expression, a slice and `Number` for each field (a retry decodes its entry, as does `ledger verify`).
 */
function fields(text: string, from: number, count: number): { numbers: number[]; rest: string } {
  const numbers: number[] = [];
  let at = from;
  for (let i = 0; i < count; i++) {
    const negative = text.charCodeAt(at) === MINUS;
    if (negative) at++;
    const start = at;
    let value = 0;
    for (let unit = text.charCodeAt(at); unit >= ZERO && unit <= NINE; unit = text.charCodeAt(++at)) value = value * 10 + (unit - ZERO);
    if (at === start || text.charCodeAt(at) !== COMMA || !Number.isSafeInteger(value)) throw notAnEntry(text);
    numbers.push(negative ? -value : value);
    at++;
  }
  return { numbers, rest: text.slice(at) };
}

function notAnEntry(text: string): Error {
  return new Error(`Not a stored idempotency entry: ${JSON.stringify(text.slice(0, 80))}`);
}
