import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';

import { iso } from '#domain';
import { CLOCK, type Clock } from '#ledger';
import { RequireScope } from '../../auth/auth.guard.js';
import { validationProblem } from '../../problems/problem.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { IsInstant, instantFromIso, OptionalField } from '../shared/validation.js';
import { GetBalanceQuery } from './balance.query.js';

export class BalanceQueryDto {
  @OptionalField()
  @IsInstant()
  asOf?: string;
}

@Controller()
export class BalanceController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get('v1/accounts/:accountId/balance')
  @RequireScope('ledger:read')
  balance(@Param('accountId', AccountIdPipe) accountId: string, @Query() query: BalanceQueryDto) {
    return this.balanceAsOf(accountId, query);
  }

  /** The same balance for finance, who hold `audit:read`: any past instant, lots as they stood then. */
  @Get('v1/audit/accounts/:accountId/balance')
  @RequireScope('audit:read')
  auditBalance(@Param('accountId', AccountIdPipe) accountId: string, @Query() query: BalanceQueryDto) {
    return this.balanceAsOf(accountId, query);
  }

  private async balanceAsOf(accountId: string, query: BalanceQueryDto) {
    const asOf = instantFromIso(query.asOf);
    const now = this.clock.now();
    if (asOf !== undefined && asOf > now) {
      // A future balance would silently assume nothing happens until then.
      throw validationProblem([{ field: 'asOf', message: `must not be in the future (now is ${iso(now)})` }]);
    }
    return { accountId, ...(await this.queries.execute(new GetBalanceQuery(accountId, asOf))) };
  }
}
