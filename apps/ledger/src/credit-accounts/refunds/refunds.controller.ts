import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { RefundAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { RefundPurchaseCommand } from './refund-purchase.command.js';
import { RefundPurchaseDto } from './refund-purchase.dto.js';

@Controller('v1/accounts/:accountId/refunds')
export class RefundsController {
  constructor(private readonly commands: CommandBus) {}

  /**
   * Refunds a paid purchase none of whose credits were used, within 90 days (rule 11): 201 with the
   * refund; 409 REFUND_NOT_ALLOWED saying why not. The ledger records it; the billing service moves money.
   */
  @Post()
  @RequireScope('ledger:admin')
  async refund(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: RefundPurchaseDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new RefundPurchaseCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(replayed ? 200 : 201).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as RefundAnswer) };
  }
}
