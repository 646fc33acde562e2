import { creditAccountStream, evolve, initialState, instantOf, occurredAtOf, type CreditAccountState, type Instant } from '#domain';
import { StreamNotFoundError, type EventStore } from '#event-store';
import { decodeEvent } from '../events/event-codec.js';

/**
 * An account as it was at a past instant, folded from its stream. Within an account events are in time
 * order, so the fold stops at the first event after the instant.
 */
export async function accountStateAsOf(
  store: EventStore,
  accountId: string,
  asOf: Instant,
): Promise<CreditAccountState | undefined> {
  const state = initialState();
  try {
    for await (const recorded of store.readStream(creditAccountStream(accountId))) {
      const event = decodeEvent(recorded);
      if (instantOf(occurredAtOf(event)) > asOf) break;
      evolve(state, event);
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
  return state;
}
