import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { PurchaseAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { PurchaseCreditsCommand } from './purchase-credits.command.js';
import { PurchaseCreditsDto } from './purchase-credits.dto.js';

@Controller('v1/accounts/:accountId/purchases')
export class PurchasesController {
  constructor(private readonly commands: CommandBus) {}

  /** 201 with the new lot; a retry of the same purchase answers 200 with the original lot. */
  @Post()
  @RequireScope('ledger:write')
  async purchase(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: PurchaseCreditsDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new PurchaseCreditsCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(replayed ? 200 : 201).header('idempotent-replayed', String(replayed));
    const { lot, balances } = answer as PurchaseAnswer;
    return { accountId, lot, balances };
  }
}
