import type { BalanceAlertRaised } from '#domain';
import type { ProjectedEvent, Projection } from './projection.js';

/** One alert, for the notification service's feed. Key: the event's global position, zero-padded, so key order is feed order. */
export type BalanceAlertDoc = Omit<BalanceAlertRaised['data'], never> & { readonly position: string };

export function alertFeedKey(position: bigint): string {
  return position.toString().padStart(20, '0');
}

export const balanceAlertsProjection: Projection<BalanceAlertDoc> = {
  name: 'balance_alerts',
  version: 1,
  keysOf: ({ event, position }: ProjectedEvent) => (event.type === 'BalanceAlertRaised' ? [alertFeedKey(position)] : []),
  evolve: (doc, { event, position }: ProjectedEvent) =>
    event.type === 'BalanceAlertRaised' ? { ...event.data, position: position.toString() } : doc,
};
