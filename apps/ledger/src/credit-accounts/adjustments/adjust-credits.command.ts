import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { actingAdmin } from '../refunds/refund-purchase.command.js';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import { instantFromIso } from '../shared/validation.js';
import type { AdjustCreditsDto } from './adjust-credits.dto.js';

export class AdjustCreditsCommand extends LedgerCommand<AdjustCreditsDto> {}

@CommandHandler(AdjustCreditsCommand)
export class AdjustCreditsHandler implements ICommandHandler<AdjustCreditsCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: AdjustCreditsCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'AdjustCredits',
        adjustmentId: body.adjustmentId,
        creditType: body.creditType,
        credits: body.credits,
        reason: body.reason,
        adjustedBy: actingAdmin(command),
        ...(body.expiresAt !== undefined ? { expiresAt: instantFromIso(body.expiresAt)! } : {}),
      },
      { userId: body.userId },
    );
  }
}
