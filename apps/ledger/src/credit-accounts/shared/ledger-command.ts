import { Command } from '@nestjs/cqrs';
import type { CommandContext, CreditAccountWriter, Execution, SubmittedCommand } from '#ledger';
import type { Principal } from '../../auth/scopes.js';
import { occurredAtAdmission } from './occurred-at.policy.js';
import { instantFromIso } from './validation.js';

/** What every command route hands to its handler: the account, the validated body, and who asks. */
export abstract class LedgerCommand<Body extends { readonly occurredAt?: string }> extends Command<Execution> {
  constructor(
    readonly accountId: string,
    readonly body: Body,
    readonly principal: Principal,
    readonly correlationId: string,
  ) {
    super();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The domain command a handler maps its request to; the account and the time come from the request. */
export type MappedCommand = DistributiveOmit<SubmittedCommand, 'accountId' | 'occurredAt'>;

/**
 * The one path every command handler takes: the caller's `occurredAt` (if any) and its back-dating
 * policy, the attribution recorded in the events' metadata, then the writer.
 */
export function submit(
  writer: CreditAccountWriter,
  command: LedgerCommand<{ readonly occurredAt?: string }>,
  mapped: MappedCommand,
  attribution: { readonly userId?: string | undefined; readonly apiKeyId?: string | undefined } = {},
): Promise<Execution> {
  const occurredAt = instantFromIso(command.body.occurredAt);
  const context: CommandContext = {
    correlationId: command.correlationId,
    actor: command.principal.name,
    ...(attribution.userId !== undefined ? { userId: attribution.userId } : {}),
    ...(attribution.apiKeyId !== undefined ? { apiKeyId: attribution.apiKeyId } : {}),
  };
  return writer.execute(
    { ...mapped, accountId: command.accountId, ...(occurredAt !== undefined ? { occurredAt } : {}) } as SubmittedCommand,
    context,
    occurredAtAdmission(occurredAt, command.principal),
  );
}
