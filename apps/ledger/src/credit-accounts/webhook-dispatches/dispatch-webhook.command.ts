import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { CreditAccountWriter, type Execution } from '#ledger';
import { LedgerCommand, contextOf } from '../shared/ledger-command.js';
import { occurredAtAdmission } from '../shared/occurred-at.policy.js';
import { instantFromIso } from '../shared/validation.js';
import type { DispatchWebhookDto } from './dispatch-webhook.dto.js';

export class DispatchWebhookCommand extends LedgerCommand<DispatchWebhookDto> {}

@CommandHandler(DispatchWebhookCommand)
export class DispatchWebhookHandler implements ICommandHandler<DispatchWebhookCommand> {
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  execute(command: DispatchWebhookCommand): Promise<Execution> {
    const { body } = command;
    const occurredAt = instantFromIso(body.occurredAt);
    return this.writer.execute(
      {
        type: 'DispatchWebhook',
        accountId: command.accountId,
        webhookEventId: body.webhookEventId,
        webhookId: body.webhookId,
        recordType: body.recordType,
        ...(occurredAt !== undefined ? { occurredAt } : {}),
      },
      contextOf(command),
      occurredAtAdmission(occurredAt, command.principal),
    );
  }
}
