import { Inject, Injectable } from '@nestjs/common';
import { Command } from '@nestjs/cqrs';
import { CreditAccountWriter, type Admission, type CommandContext, type Execution, type SubmittedCommand } from '#ledger';
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
 * The one path every command takes to the writer: the caller's `occurredAt` (if any) and its
 * back-dating policy, and the attribution recorded in the events' metadata.
 */
@Injectable()
export class CommandSubmitter {
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  submit(
    command: LedgerCommand<{ readonly occurredAt?: string }>,
    mapped: MappedCommand,
    attribution: { readonly userId?: string | undefined; readonly apiKeyId?: string | undefined } = {},
  ): Promise<Execution> {
    const occurredAt = instantFromIso(command.body.occurredAt);
    // Built without conditional spreads, and with the copied command's own fields last: a property added
    // after a spread (`{ ...mapped, accountId }`) cost 0.75 µs a command, 2% of the deciding thread.
    const context: { -readonly [K in keyof CommandContext]: CommandContext[K] } = { correlationId: command.correlationId, actor: command.principal.name };
    if (attribution.userId !== undefined) context.userId = attribution.userId;
    if (attribution.apiKeyId !== undefined) context.apiKeyId = attribution.apiKeyId;
    const submitted: { -readonly [K in keyof SubmittedCommand]: SubmittedCommand[K] } = { accountId: command.accountId, ...mapped };
    if (occurredAt !== undefined) submitted.occurredAt = occurredAt;
    return this.execute(submitted as SubmittedCommand, context, occurredAtAdmission(occurredAt, command.principal));
  }

  /** Timed by the writer (`WriterOptions.onCommandSettled`), not here: see `CommandSettled`. */
  execute(command: SubmittedCommand, context: CommandContext, admit?: Admission): Promise<Execution> {
    return this.writer.execute(command, context, admit);
  }
}
