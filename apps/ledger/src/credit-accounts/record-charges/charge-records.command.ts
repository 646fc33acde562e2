import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { CreditAccountWriter, type Execution } from '#ledger';
import { LedgerCommand, contextOf } from '../shared/ledger-command.js';
import { occurredAtAdmission } from '../shared/occurred-at.policy.js';
import { instantFromIso } from '../shared/validation.js';
import type { ChargeRecordsDto } from './charge-records.dto.js';

export class ChargeRecordsCommand extends LedgerCommand<ChargeRecordsDto> {}

@CommandHandler(ChargeRecordsCommand)
export class ChargeRecordsHandler implements ICommandHandler<ChargeRecordsCommand> {
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  execute(command: ChargeRecordsCommand): Promise<Execution> {
    const { body } = command;
    const occurredAt = instantFromIso(body.occurredAt);
    return this.writer.execute(
      {
        type: 'ChargeRecords',
        accountId: command.accountId,
        requestId: body.requestId,
        endpoint: body.endpoint,
        records: body.records,
        allowPartial: body.allowPartial ?? false,
        ...(body.apiKeyId !== undefined ? { apiKeyId: body.apiKeyId } : {}),
        ...(body.userId !== undefined ? { userId: body.userId } : {}),
        ...(occurredAt !== undefined ? { occurredAt } : {}),
      },
      contextOf(command, { userId: body.userId, apiKeyId: body.apiKeyId }),
      occurredAtAdmission(occurredAt, command.principal),
    );
  }
}
