import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { CLOCK, type Clock } from '#ledger';
import { RequireScope } from '../auth/auth.guard.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import type { AccountStatement } from '#ledger';
import { StatementQueryDto, statementPeriodOf } from './audit-params.js';
import { GetAccountStatementQuery } from './audit.queries.js';
import { JSON_CONTENT_TYPE, streamedJson } from './streamed-json.js';

@Controller('v1/audit/accounts/:accountId/statement')
export class AccountStatementController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The account's statement for a period: the balances as of `from`, every movement after it up to and
   * including `to` with the balance it left, and the balances as of `to`. Written a slice of movements at
   * a time (`streamedJson`): a year of a busy account has tens of thousands.
   */
  @Get()
  @RequireScope('audit:read')
  async statement(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Query() query: StatementQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { from, to } = statementPeriodOf(query, this.clock.now());
    const statement: AccountStatement = await this.queries.execute(new GetAccountStatementQuery(accountId, from, to));
    void reply.header('content-type', JSON_CONTENT_TYPE);
    return streamedJson(statement, 'movements');
  }
}
