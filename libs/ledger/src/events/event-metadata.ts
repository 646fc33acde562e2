/** Who asked for a command, and how it relates to other messages; recorded with every event. */
export interface CommandContext {
  /** Ties together everything one business operation caused, across services. */
  readonly correlationId: string;
  /** The name of the service token that sent the command. */
  readonly actor: string;
  readonly userId?: string;
  readonly apiKeyId?: string;
}

export interface LedgerEventMetadata {
  readonly correlationId: string;
  /** The command that caused the event: its idempotency key. */
  readonly causationId: string;
  readonly actor: { readonly service: string; readonly userId?: string; readonly apiKeyId?: string };
  readonly occurredAt: string;
  readonly schemaVersion: number;
}
