import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import type { WebhookDispatchAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { AccountIdPipe } from '../shared/account-id.pipe.js';
import { correlationIdOf } from '../shared/request-context.js';
import { DispatchWebhookCommand } from './dispatch-webhook.command.js';
import { DispatchWebhookDto } from './dispatch-webhook.dto.js';

@Controller('v1/accounts/:accountId/webhook-dispatches')
export class WebhookDispatchesController {
  constructor(private readonly commands: CommandBus) {}

  /**
   * Charges a webhook event once, at its first dispatch (rule 8). When the balance cannot pay, the
   * answer is 402 with `status: "not_triggered"`, and the refusal is recorded for the usage page.
   */
  @Post()
  @RequireScope('ledger:write')
  async dispatch(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Body() body: DispatchWebhookDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { answer, replayed } = await this.commands.execute(
      new DispatchWebhookCommand(accountId, body, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(200).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as WebhookDispatchAnswer) };
  }
}
