import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import type { RevealCompaniesDto } from './reveal-companies.dto.js';

export class RevealCompaniesCommand extends LedgerCommand<RevealCompaniesDto> {}

@CommandHandler(RevealCompaniesCommand)
export class RevealCompaniesHandler implements ICommandHandler<RevealCompaniesCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: RevealCompaniesCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'RevealCompanies',
        requestId: body.requestId,
        companyIds: body.companyIds,
        action: body.action,
        allowPartial: body.allowPartial ?? false,
        ...(body.userId !== undefined ? { userId: body.userId } : {}),
      },
      { userId: body.userId },
    );
  }
}
