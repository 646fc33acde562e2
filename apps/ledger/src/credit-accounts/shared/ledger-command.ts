import { Command } from '@nestjs/cqrs';
import type { CommandContext, Execution } from '#ledger';
import type { Principal } from '../../auth/scopes.js';

/** What every command route hands to its handler: the account, the validated body, and who asks. */
export abstract class LedgerCommand<Body> extends Command<Execution> {
  constructor(
    readonly accountId: string,
    readonly body: Body,
    readonly principal: Principal,
    readonly correlationId: string,
  ) {
    super();
  }
}

export function contextOf(
  command: LedgerCommand<unknown>,
  attribution: { readonly userId?: string; readonly apiKeyId?: string } = {},
): CommandContext {
  return {
    correlationId: command.correlationId,
    actor: command.principal.name,
    ...(attribution.userId !== undefined ? { userId: attribution.userId } : {}),
    ...(attribution.apiKeyId !== undefined ? { apiKeyId: attribution.apiKeyId } : {}),
  };
}
