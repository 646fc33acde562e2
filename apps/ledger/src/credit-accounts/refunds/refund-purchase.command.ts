import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Execution } from '#ledger';
import { CommandSubmitter, LedgerCommand } from '../shared/ledger-command.js';
import type { RefundPurchaseDto } from './refund-purchase.dto.js';

export class RefundPurchaseCommand extends LedgerCommand<RefundPurchaseDto> {}

/** Who acts, as recorded in the event: the service token, and the person behind it when named. */
export function actingAdmin(command: LedgerCommand<{ readonly userId?: string; readonly occurredAt?: string }>): string {
  const { userId } = command.body;
  return userId !== undefined ? `${command.principal.name}/${userId}` : command.principal.name;
}

@CommandHandler(RefundPurchaseCommand)
export class RefundPurchaseHandler implements ICommandHandler<RefundPurchaseCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: RefundPurchaseCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'RefundPurchase',
        purchaseId: body.purchaseId,
        refundedBy: actingAdmin(command),
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
      },
      { userId: body.userId },
    );
  }
}
