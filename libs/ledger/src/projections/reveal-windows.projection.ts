import type { ProjectedEvent, Projection } from './projection.js';

/** The latest reveal window of one company for one account. Key: `<accountId>|<companyId>`. */
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
  version: 1,
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
