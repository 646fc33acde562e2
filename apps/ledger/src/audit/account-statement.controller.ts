import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { CLOCK, type Clock } from '#ledger';
import { RequireScope } from '../auth/auth.guard.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import type { AccountStatement } from '#ledger';
import { StatementQueryDto, statementPeriodOf } from './audit-params.js';
import { GetAccountStatementQuery } from './audit.queries.js';

@Controller('v1/audit/accounts/:accountId/statement')
export class AccountStatementController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The account's statement for a period: the balances as of `from`, every movement after it up to and
   * including `to` with the balance it left, and the balances as of `to`.
   */
  @Get()
  @RequireScope('audit:read')
  statement(@Param('accountId', AccountIdPipe) accountId: string, @Query() query: StatementQueryDto): Promise<AccountStatement> {
    const { from, to } = statementPeriodOf(query, this.clock.now());
    return this.queries.execute(new GetAccountStatementQuery(accountId, from, to));
  }
}
