import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { CreditType } from '#domain';
import type { Execution } from '#ledger';
import { actingAdmin } from '../credit-accounts/refunds/refund-purchase.command.js';
import { CommandSubmitter, LedgerCommand } from '../credit-accounts/shared/ledger-command.js';
import type { FailAutoRechargeDto, RemoveAutoRechargeRuleDto, SetAutoRechargeRuleDto } from './auto-recharge.dto.js';

export class SetAutoRechargeRuleCommand extends LedgerCommand<SetAutoRechargeRuleDto & { readonly creditType: CreditType }> {}
export class RemoveAutoRechargeRuleCommand extends LedgerCommand<RemoveAutoRechargeRuleDto & { readonly creditType: CreditType }> {}
export class FailAutoRechargeCommand extends LedgerCommand<FailAutoRechargeDto & { readonly autoRechargeId: string }> {}

@CommandHandler(SetAutoRechargeRuleCommand)
export class SetAutoRechargeRuleHandler implements ICommandHandler<SetAutoRechargeRuleCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: SetAutoRechargeRuleCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command,
      {
        type: 'SetAutoRechargeRule',
        creditType: body.creditType,
        threshold: body.threshold,
        credits: body.credits,
        ...(body.monthlyCap !== undefined ? { monthlyCap: body.monthlyCap } : {}),
        enabled: body.enabled ?? true,
        setBy: actingAdmin(command),
      },
      { userId: body.userId },
    );
  }
}

@CommandHandler(RemoveAutoRechargeRuleCommand)
export class RemoveAutoRechargeRuleHandler implements ICommandHandler<RemoveAutoRechargeRuleCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: RemoveAutoRechargeRuleCommand): Promise<Execution> {
    return this.commands.submit(command,
      { type: 'RemoveAutoRechargeRule', creditType: command.body.creditType, removedBy: actingAdmin(command) },
      { userId: command.body.userId },
    );
  }
}

@CommandHandler(FailAutoRechargeCommand)
export class FailAutoRechargeHandler implements ICommandHandler<FailAutoRechargeCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: FailAutoRechargeCommand): Promise<Execution> {
    const { body } = command;
    return this.commands.submit(command, {
      type: 'FailAutoRecharge',
      autoRechargeId: body.autoRechargeId,
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
    });
  }
}
