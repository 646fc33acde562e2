import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import type { DispatchWebhookDto } from './dispatch-webhook.dto.js';

export class DispatchWebhookCommand extends LedgerCommand<DispatchWebhookDto> {}

@CommandHandler(DispatchWebhookCommand)
export class DispatchWebhookHandler implements ICommandHandler<DispatchWebhookCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: DispatchWebhookCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'DispatchWebhook',
        webhookEventId: body.webhookEventId,
        webhookId: body.webhookId,
        recordType: body.recordType,
      },
    );
  }
}
