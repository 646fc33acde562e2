import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { CreditAccountWriter, type Execution } from '#ledger';
import { LedgerCommand, contextOf } from '../shared/ledger-command.js';
import { occurredAtAdmission } from '../shared/occurred-at.policy.js';
import { instantFromIso } from '../shared/validation.js';
import type { RevealCompaniesDto } from './reveal-companies.dto.js';

export class RevealCompaniesCommand extends LedgerCommand<RevealCompaniesDto> {}

@CommandHandler(RevealCompaniesCommand)
export class RevealCompaniesHandler implements ICommandHandler<RevealCompaniesCommand> {
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  execute(command: RevealCompaniesCommand): Promise<Execution> {
    const { body } = command;
    const occurredAt = instantFromIso(body.occurredAt);
    return this.writer.execute(
      {
        type: 'RevealCompanies',
        accountId: command.accountId,
        requestId: body.requestId,
        companyIds: body.companyIds,
        action: body.action,
        allowPartial: body.allowPartial ?? false,
        ...(body.userId !== undefined ? { userId: body.userId } : {}),
        ...(occurredAt !== undefined ? { occurredAt } : {}),
      },
      contextOf(command, { userId: body.userId }),
      occurredAtAdmission(occurredAt, command.principal),
    );
  }
}
