import { Body, Controller, Get, Inject, Param, Put, Query, Req } from '@nestjs/common';
import { CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ArrayMaxSize, IsArray, IsInt, Matches, Max, Min } from 'class-validator';
import { accountNotFound, balanceAlertRulesAnswer, CREDIT_TYPES, type CreditType } from '#domain';
import { alertFeedKey, CreditAccountWriter, READ_MODELS, type BalanceAlertDoc, type Execution, type SqliteReadModelStore } from '#ledger';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { MAX_CREDITS_PER_LOT } from '../credit-accounts/purchases/purchase-credits.dto.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import { CommandSubmitter, LedgerCommand } from '../credit-accounts/shared/ledger-command.js';
import { correlationIdOf } from '../credit-accounts/shared/request-context.js';
import { IsInstant, IsLedgerId, OptionalField } from '../credit-accounts/shared/validation.js';
import { validationProblem } from '../problems/problem.js';
import { ReadConsistency } from '../read-models/read-consistency.js';

export class SetBalanceAlertsDto {
  /** Percentages (1-100) of the credits bought in the calendar month that, once consumed, raise an alert. */
  @IsArray()
  @ArrayMaxSize(10)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(100, { each: true })
  consumedPercents!: number[];

  /** An alert when a charge takes the available balance below this. */
  @OptionalField()
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS_PER_LOT)
  availableBelow?: number;

  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}

export class AlertFeedDto {
  /** The `next` of the previous page: alerts after it. */
  @OptionalField()
  @Matches(/^\d{1,20}$/, { message: 'after must be the cursor of a previous page' })
  after?: string;

  @OptionalField()
  @Matches(/^([1-9]\d{0,2}|1000)$/, { message: 'limit must be 1 to 1000' })
  limit?: string;
}

export class SetBalanceAlertsCommand extends LedgerCommand<SetBalanceAlertsDto & { readonly creditType: CreditType }> {}

@CommandHandler(SetBalanceAlertsCommand)
export class SetBalanceAlertsHandler implements ICommandHandler<SetBalanceAlertsCommand> {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  execute(command: SetBalanceAlertsCommand): Promise<Execution> {
    const { body } = command;
    const setBy = body.userId !== undefined ? `${command.principal.name}/${body.userId}` : command.principal.name;
    return this.commands.submit(command,
      {
        type: 'SetBalanceAlerts',
        creditType: body.creditType,
        consumedPercents: body.consumedPercents,
        ...(body.availableBelow !== undefined ? { availableBelow: body.availableBelow } : {}),
        setBy,
      },
      { userId: body.userId },
    );
  }
}

/**
 * Balance alerts for the account owner. Services set them per credit type; the ledger raises one alert
 * per crossing with the charge that caused it; the notification service polls the feed (or follows
 * `BalanceAlertRaised` in the event stream) and tells the owner.
 */
@Controller()
export class BalanceAlertsController {
  constructor(
    private readonly commands: CommandBus,
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
  ) {}

  @Get('v1/accounts/:accountId/balance-alerts')
  @RequireScope('ledger:read')
  async rules(@Param('accountId', AccountIdPipe) accountId: string) {
    const rules = await this.writer.read(accountId, (state) => (state.exists ? CREDIT_TYPES.map((t) => balanceAlertRulesAnswer(state, t)) : undefined));
    if (!rules) throw accountNotFound(accountId);
    return { accountId, rules };
  }

  @Put('v1/accounts/:accountId/balance-alerts/:creditType')
  @RequireScope('ledger:write')
  async set(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Param('creditType') creditType: string,
    @Body() body: SetBalanceAlertsDto,
    @Req() request: AuthenticatedRequest,
  ) {
    if (!(CREDIT_TYPES as readonly string[]).includes(creditType)) {
      throw validationProblem([{ field: 'creditType', message: `must be one of ${CREDIT_TYPES.join(', ')}` }]);
    }
    const { answer } = await this.commands.execute(
      new SetBalanceAlertsCommand(accountId, { ...body, creditType: creditType as CreditType }, principalOf(request), correlationIdOf(request)),
    );
    return { accountId, ...answer };
  }

  /** Every alert of every account in the order raised; page with `next`. */
  @Get('v1/balance-alerts')
  @RequireScope('ledger:read')
  async feed(@Query() query: AlertFeedDto) {
    await this.consistency.catchUpAll();
    const limit = query.limit ? Number(query.limit) : 100;
    const from = query.after ? alertFeedKey(BigInt(query.after) + 1n) : '';
    const page = this.readModels.range<BalanceAlertDoc>('balance_alerts', from, '\uffff', limit + 1);
    const alerts = page.slice(0, limit).map(({ doc }) => doc);
    return { alerts, next: page.length > limit ? alerts[alerts.length - 1]!.position : null };
  }
}

