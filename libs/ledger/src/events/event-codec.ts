import {
  CREDIT_ACCOUNT_SCHEMA_VERSION,
  isCreditAccountEventType,
  occurredAtOf,
  type CreditAccountEvent,
} from '#domain';
import type { NewEvent, RecordedEvent } from '#event-store';
import type { CommandContext, LedgerEventMetadata } from './event-metadata.js';

export function encodeEvent(
  event: CreditAccountEvent,
  id: string,
  causationId: string,
  context: CommandContext,
): NewEvent {
  const metadata: LedgerEventMetadata = {
    correlationId: context.correlationId,
    causationId,
    actor: actorOf(context),
    occurredAt: occurredAtOf(event),
    schemaVersion: CREDIT_ACCOUNT_SCHEMA_VERSION,
  };
  return { id, type: event.type, data: event.data, metadata: metadata as unknown as NewEvent['metadata'] };
}

// Built without conditional spreads: each of those allocates a throwaway object on the hot path.
function actorOf(context: CommandContext): LedgerEventMetadata['actor'] {
  const actor: { service: string; userId?: string; apiKeyId?: string } = { service: context.actor };
  if (context.userId !== undefined) actor.userId = context.userId;
  if (context.apiKeyId !== undefined) actor.apiKeyId = context.apiKeyId;
  return actor;
}

export class UnknownEventTypeError extends Error {
  constructor(readonly streamId: string, readonly type: string, readonly revision: bigint) {
    super(`Event ${type} at ${streamId}@${revision} is not a credit-account event`);
    this.name = 'UnknownEventTypeError';
  }
}

export function decodeEvent(recorded: RecordedEvent): CreditAccountEvent {
  if (!isCreditAccountEventType(recorded.type)) {
    throw new UnknownEventTypeError(recorded.streamId, recorded.type, recorded.revision);
  }
  // Stored events are never rewritten. When a shape changes, its schemaVersion goes up and an upcaster
  // from the old version is added here; an event newer than this code understands is refused.
  const version = (recorded.metadata as Partial<LedgerEventMetadata> | undefined)?.schemaVersion ?? 1;
  if (version > CREDIT_ACCOUNT_SCHEMA_VERSION) {
    throw new Error(`${recorded.type} at ${recorded.streamId}@${recorded.revision} has schema v${version}, newer than this ledger`);
  }
  const data = recorded.data;
  return { type: recorded.type, data } as CreditAccountEvent;
}
