import {
  CREDIT_ACCOUNT_SCHEMA_VERSION,
  isCreditAccountEventType,
  occurredAtOf,
  type CreditAccountEvent,
} from '#domain';
import type { NewEvent, RecordedEvent, StoredEventText } from '#event-store';
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
  const version = (recorded.metadata as Partial<LedgerEventMetadata> | undefined)?.schemaVersion ?? 1;
  return decodeData(recorded.streamId, recorded.revision, recorded.type, version, recorded.data);
}

/**
 * Decodes a stored event from its JSON text (a replay's bulk read). Its metadata is left as text unless
 * its schema version cannot be seen from the text: most projections never read it.
 */
export function decodeEventText(stored: StoredEventText): CreditAccountEvent {
  if (!isCreditAccountEventType(stored.type)) throw new UnknownEventTypeError(stored.streamId, stored.type, stored.revision);
  return decodeData(stored.streamId, stored.revision, stored.type, schemaVersionOfText(stored.metadata), JSON.parse(stored.data));
}

/** `encodeEvent` writes `schemaVersion` last, so a top-level `"schemaVersion":N}` ends the text. */
const CURRENT_VERSION_SUFFIX = `,"schemaVersion":${CREDIT_ACCOUNT_SCHEMA_VERSION}}`;

function schemaVersionOfText(metadata: string | null): number {
  if (metadata === null) return 1;
  if (metadata.endsWith(CURRENT_VERSION_SUFFIX)) return CREDIT_ACCOUNT_SCHEMA_VERSION;
  return (JSON.parse(metadata) as Partial<LedgerEventMetadata> | null)?.schemaVersion ?? 1;
}

function decodeData(streamId: string, revision: bigint, type: string, version: number, data: unknown): CreditAccountEvent {
  if (!isCreditAccountEventType(type)) {
    throw new UnknownEventTypeError(streamId, type, revision);
  }
  // Stored events are never rewritten. When a shape changes, its schemaVersion goes up and an upcaster
  // from the old version is added here; an event newer than this code understands is refused.
  if (version > CREDIT_ACCOUNT_SCHEMA_VERSION) {
    throw new Error(`${type} at ${streamId}@${revision} has schema v${version}, newer than this ledger`);
  }
  return { type, data } as CreditAccountEvent;
}
