import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { RecordChargeAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { ChargeRecordsCommand } from './charge-records.command.js';
import { ChargeRecordsDto } from './charge-records.dto.js';

@Controller('v1/accounts/:accountId/record-charges')
export class RecordChargesController {
  constructor(private readonly commands: CommandBus) {}

  /** Bills the records a data call returned, at the price in force (rules 6, 7 and 9). */
  @Post()
  @RequireScope('ledger:write')
  async charge(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: ChargeRecordsDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new ChargeRecordsCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(200).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as RecordChargeAnswer) };
  }
}
