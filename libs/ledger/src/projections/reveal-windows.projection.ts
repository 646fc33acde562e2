import type { ProjectedEvent, Projection } from './projection.js';

/**
 * The latest reveal window of one company for one account. Key: `<accountId>|<companyId>`. Indexed by when
 * the window ends, per account, so an account's open windows are read without its closed ones (which are
 * kept, and only grow).
 */
export interface RevealWindowDoc {
  readonly accountId: string;
  readonly companyId: string;
  readonly revealedAt: string;
  readonly windowEndsAt: string;
  readonly requestId: string;
  readonly action: 'reveal' | 'export';
  /** How many charged reveals the company has had on this account. */
  readonly charges: number;
}

export function revealWindowKey(accountId: string, companyId: string): string {
  return `${accountId}|${companyId}`;
}

export const revealWindowsProjection: Projection<RevealWindowDoc> = {
  name: 'reveal_windows',
  version: 2,
  indexOf: (doc) => Date.parse(doc.windowEndsAt),
  indexGroupOf: (key) => key.slice(0, key.indexOf('|')),
  keysOf: ({ event, accountId }) =>
    event.type === 'CompanyRevealed' ? [revealWindowKey(accountId, event.data.companyId)] : [],
  evolve(doc, { event, accountId }: ProjectedEvent) {
    if (event.type !== 'CompanyRevealed') return doc;
    return {
      accountId,
      companyId: event.data.companyId,
      revealedAt: event.data.revealedAt,
      windowEndsAt: event.data.windowEndsAt,
      requestId: event.data.requestId,
      action: event.data.action,
      charges: (doc?.charges ?? 0) + 1,
    };
  },
};
