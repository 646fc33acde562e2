import { Problem } from '../problems/problem.js';

interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly q: number;
}

function parseAccept(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.split(',')) {
    const [mediaType, ...parameters] = part.split(';').map((s) => s.trim());
    const match = /^([a-z0-9!#$%&'*+.^_`|~-]+)\/([a-z0-9!#$%&'*+.^_`|~-]+)$/i.exec(mediaType ?? '');
    if (!match) continue;
    let q = 1;
    for (const parameter of parameters) {
      const qMatch = /^q=([01](?:\.\d{0,3})?)$/i.exec(parameter);
      if (qMatch) q = Math.min(1, Number(qMatch[1]));
    }
    ranges.push({ type: match[1]!.toLowerCase(), subtype: match[2]!.toLowerCase(), q });
  }
  return ranges;
}

/** How much the client wants `offered`: the q of the most specific range that matches it (RFC 9110 §12.5.1). */
function qualityOf(offered: string, ranges: readonly MediaRange[]): number {
  const [type, subtype] = offered.split('/') as [string, string];
  let best: { specificity: number; q: number } | undefined;
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype ? 2 : range.type === type && range.subtype === '*' ? 1 : range.type === '*' && range.subtype === '*' ? 0 : -1;
    if (specificity >= 0 && (best === undefined || specificity > best.specificity)) best = { specificity, q: range.q };
  }
  return best?.q ?? 0;
}

/**
 * The representation to answer with: the offered media type the client rates highest; on a tie, the
 * first offered (JSON). No Accept header, or one naming nothing we parse, means anything will do.
 * A client that accepts none of them gets 406 rather than a format it cannot read.
 */
export function negotiate<const T extends string>(accept: string | undefined, offered: readonly [T, ...T[]]): T {
  const ranges = accept === undefined ? [] : parseAccept(accept);
  if (ranges.length === 0) return offered[0];
  let chosen: T | undefined;
  let chosenQ = 0;
  for (const type of offered) {
    const q = qualityOf(type, ranges);
    if (q > chosenQ) {
      chosen = type;
      chosenQ = q;
    }
  }
  if (chosen === undefined) {
    throw new Problem(406, 'NOT_ACCEPTABLE', 'No acceptable representation', `This route answers with ${offered.join(', ')}`, {
      available: offered,
    });
  }
  return chosen;
}

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8; header=present';
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson; charset=utf-8';
