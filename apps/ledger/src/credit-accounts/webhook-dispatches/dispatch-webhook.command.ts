import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { CreditAccountWriter, type Execution } from '#ledger';
import { LedgerCommand, submit } from '../shared/ledger-command.js';
import type { DispatchWebhookDto } from './dispatch-webhook.dto.js';

export class DispatchWebhookCommand extends LedgerCommand<DispatchWebhookDto> {}

@CommandHandler(DispatchWebhookCommand)
export class DispatchWebhookHandler implements ICommandHandler<DispatchWebhookCommand> {
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  execute(command: DispatchWebhookCommand): Promise<Execution> {
    const { body } = command;
    return submit(
      this.writer,
      command,
      {
        type: 'DispatchWebhook',
        webhookEventId: body.webhookEventId,
        webhookId: body.webhookId,
        recordType: body.recordType,
      },
    );
  }
}
