/**
 * A short, stable fingerprint of a command's billable payload. It is stored in the events so that a
 * retry with the same idempotency key can be told apart from a reuse of the key with another payload,
 * even after a replay. The algorithm (cyrb53 over canonical JSON) is part of the stored format: never
 * change it without a new prefix.
 */
export function fingerprint(payload: unknown): string {
  return fingerprintOfCanonical(canonicalJson(payload));
}

/** For callers that build the canonical JSON themselves (hot paths): it must equal `canonicalJson`'s. */
export function fingerprintOfCanonical(canonical: string): string {
  return `v1:${cyrb53(canonical).toString(36)}`;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function cyrb53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
