import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import { instantFromIso } from '../shared/validation.js';
import type { PurchaseCreditsDto } from './purchase-credits.dto.js';

export class PurchaseCreditsCommand extends LedgerCommand<PurchaseCreditsDto> {}

@CommandHandler(PurchaseCreditsCommand)
export class PurchaseCreditsHandler implements ICommandHandler<PurchaseCreditsCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: PurchaseCreditsCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'PurchaseCredits',
        purchaseId: body.purchaseId,
        creditType: body.creditType,
        credits: body.credits,
        paid: body.paid ?? true,
        ...(body.source !== undefined ? { source: body.source } : {}),
        ...(body.amountMinor !== undefined ? { amountMinor: body.amountMinor } : {}),
        ...(body.currency !== undefined ? { currency: body.currency } : {}),
        ...(body.invoiceId !== undefined ? { invoiceId: body.invoiceId } : {}),
        ...(body.expiresAt !== undefined ? { expiresAt: instantFromIso(body.expiresAt)! } : {}),
        ...(body.autoRechargeId !== undefined ? { autoRechargeId: body.autoRechargeId } : {}),
      },
    );
  }
}
