import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { RevealAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { validationProblem } from '../../problems/problem.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { ID_PATTERN } from '../shared/validation.js';
import { RevealCompaniesCommand } from './reveal-companies.command.js';
import { RevealCompaniesDto } from './reveal-companies.dto.js';
import { GetOpenWindowsQuery } from './open-windows.query.js';
import { GetRevealStatusQuery } from './reveal-status.query.js';

@Controller('v1/accounts/:accountId/reveals')
export class RevealsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  /** Charges one company credit per company outside an open window of the account (rule 5). */
  @Post()
  @RequireScope('ledger:write')
  async reveal(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: RevealCompaniesDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new RevealCompaniesCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(200).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as RevealAnswer) };
  }

  /** Every open reveal window of the account: the companies it sees for free until `windowEndsAt`. */
  @Get()
  @RequireScope('ledger:read')
  async openWindows(@Param('accountId', AccountIdPipe) accountId: string) {
    return { accountId, windows: await this.queries.execute(new GetOpenWindowsQuery(accountId)) };
  }

  @Get(':companyId')
  @RequireScope('ledger:read')
  async status(@Param('accountId', AccountIdPipe) accountId: string, @Param('companyId') companyId: string) {
    if (!ID_PATTERN.test(companyId)) throw validationProblem([{ field: 'companyId', message: 'is not a valid id' }]);
    return { accountId, ...(await this.queries.execute(new GetRevealStatusQuery(accountId, companyId))) };
  }
}
