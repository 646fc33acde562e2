import { Controller, Get, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { RequireScope } from '../auth/auth.guard.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import type { AccountEventsPage } from '#ledger';
import { AccountEventsQueryDto, pageSizeOf, revisionOf } from './audit-params.js';
import { GetAccountEventsQuery } from './audit.queries.js';

@Controller('v1/accounts/:accountId/events')
export class AccountEventsController {
  constructor(private readonly queries: QueryBus) {}

  /** Every event of the account's stream, in order, a page at a time; `next` is the next page's `from`. */
  @Get()
  @RequireScope('audit:read')
  events(@Param('accountId', AccountIdPipe) accountId: string, @Query() query: AccountEventsQueryDto): Promise<AccountEventsPage> {
    return this.queries.execute(new GetAccountEventsQuery(accountId, revisionOf(query.from), pageSizeOf(query.limit)));
  }
}
