import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import type { ChargeRecordsDto } from './charge-records.dto.js';

export class ChargeRecordsCommand extends LedgerCommand<ChargeRecordsDto> {}

@CommandHandler(ChargeRecordsCommand)
export class ChargeRecordsHandler implements ICommandHandler<ChargeRecordsCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: ChargeRecordsCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'ChargeRecords',
        requestId: body.requestId,
        endpoint: body.endpoint,
        records: body.records,
        allowPartial: body.allowPartial ?? false,
        ...(body.apiKeyId !== undefined ? { apiKeyId: body.apiKeyId } : {}),
        ...(body.userId !== undefined ? { userId: body.userId } : {}),
      },
      { userId: body.userId, apiKeyId: body.apiKeyId },
    );
  }
}
