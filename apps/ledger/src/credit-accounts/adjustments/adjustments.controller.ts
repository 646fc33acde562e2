import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { AdjustmentAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { AdjustCreditsCommand } from './adjust-credits.command.js';
import { AdjustCreditsDto } from './adjust-credits.dto.js';

@Controller('v1/accounts/:accountId/adjustments')
export class AdjustmentsController {
  constructor(private readonly commands: CommandBus) {}

  /** An admin's grant or removal of credits, with its reason; a removal never goes below zero (402). */
  @Post()
  @RequireScope('ledger:admin')
  async adjust(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: AdjustCreditsDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new AdjustCreditsCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(replayed ? 200 : 201).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as AdjustmentAnswer) };
  }
}
