import { Body, Controller, Delete, Get, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { accountNotFound, autoRechargeRuleAnswer, CREDIT_TYPES, type AutoRechargeFailureAnswer, type CreditType } from '#domain';
import { CreditAccountWriter, rangeInPages, READ_MODELS, readAllPages, type AutoRechargeDoc, type SqliteReadModelStore } from '#ledger';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import { correlationIdOf } from '../credit-accounts/shared/request-context.js';
import { ID_PATTERN } from '../credit-accounts/shared/validation.js';
import { validationProblem } from '../problems/problem.js';
import { ReadConsistency } from '../read-models/read-consistency.js';
import { FailAutoRechargeCommand, RemoveAutoRechargeRuleCommand, SetAutoRechargeRuleCommand } from './auto-recharge.commands.js';
import { AutoRechargeFeedDto, FailAutoRechargeDto, RemoveAutoRechargeRuleDto, SetAutoRechargeRuleDto } from './auto-recharge.dto.js';

function creditTypeOf(value: string): CreditType {
  if (!(CREDIT_TYPES as readonly string[]).includes(value)) {
    throw validationProblem([{ field: 'creditType', message: `must be one of ${CREDIT_TYPES.join(', ')}` }]);
  }
  return value as CreditType;
}

/**
 * Auto recharge (rule 10). Admins set one rule per credit type; the ledger records requests with the
 * charges that need them; the billing service polls the feed (or follows `AutoRechargeRequested` in the
 * event stream), takes the payment, and completes a request with an `auto_recharge` purchase naming it
 * (`POST …/purchases` with `autoRechargeId`) or reports the failure here.
 */
@Controller()
export class AutoRechargeController {
  constructor(
    private readonly commands: CommandBus,
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
  ) {}

  @Get('v1/accounts/:accountId/auto-recharge-rules')
  @RequireScope('ledger:admin')
  async rules(@Param('accountId', AccountIdPipe) accountId: string) {
    const rules = await this.writer.read(accountId, (state) => (state.exists ? CREDIT_TYPES.map((t) => autoRechargeRuleAnswer(state, t)) : undefined));
    if (!rules) throw accountNotFound(accountId);
    return { accountId, rules };
  }

  @Put('v1/accounts/:accountId/auto-recharge-rules/:creditType')
  @RequireScope('ledger:admin')
  async setRule(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Param('creditType') creditType: string,
    @Body() body: SetAutoRechargeRuleDto,
    @Req() request: AuthenticatedRequest,
  ) {
    const { answer } = await this.commands.execute(
      new SetAutoRechargeRuleCommand(accountId, { ...body, creditType: creditTypeOf(creditType) }, principalOf(request), correlationIdOf(request)),
    );
    return { accountId, ...answer };
  }

  @Delete('v1/accounts/:accountId/auto-recharge-rules/:creditType')
  @RequireScope('ledger:admin')
  async removeRule(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Param('creditType') creditType: string,
    @Query() query: RemoveAutoRechargeRuleDto,
    @Req() request: AuthenticatedRequest,
  ) {
    const { answer } = await this.commands.execute(
      new RemoveAutoRechargeRuleCommand(accountId, { ...query, creditType: creditTypeOf(creditType) }, principalOf(request), correlationIdOf(request)),
    );
    return { accountId, ...answer };
  }

  /** The billing service could not take the payment. Retrying the report changes nothing. */
  @Post('v1/accounts/:accountId/auto-recharges/:autoRechargeId/failures')
  @RequireScope('ledger:write')
  async fail(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Param('autoRechargeId') autoRechargeId: string,
    @Body() body: FailAutoRechargeDto,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!ID_PATTERN.test(autoRechargeId)) throw validationProblem([{ field: 'autoRechargeId', message: 'is not a valid id' }]);
    const { answer, replayed } = await this.commands.execute(
      new FailAutoRechargeCommand(accountId, { ...body, autoRechargeId }, principalOf(request), correlationIdOf(request)),
    );
    void reply.status(replayed ? 200 : 201).header('idempotent-replayed', String(replayed));
    return { accountId, ...(answer as AutoRechargeFailureAnswer) };
  }

  /** The billing service's feed: requests across accounts, oldest first, by status (default pending). */
  @Get('v1/auto-recharges')
  @RequireScope('ledger:read')
  async feed(@Query() query: AutoRechargeFeedDto) {
    const status = query.status ?? 'pending';
    if (query.accountId) await this.consistency.catchUp(query.accountId);
    else await this.consistency.catchUpAll();
    if (status === 'pending' && !query.accountId) {
      // From the index of pending requests: the settled ones, which only grow, are not read.
      const pending = await readAllPages((limit, after) => this.readModels.indexedDocs<AutoRechargeDoc>('auto_recharges', {}, limit, after));
      return { status, requests: pending.map(({ doc }) => doc) };
    }
    const from = query.accountId ? `${query.accountId}|` : '';
    const to = query.accountId ? `${query.accountId}}` : '\uffff';
    // Every request of the accounts asked about is read (the settled ones only grow), in pages with a
    // turn of the event loop between them: this thread also answers requests.
    const found: { key: string; doc: AutoRechargeDoc; at: number }[] = [];
    for await (const page of rangeInPages<AutoRechargeDoc>(this.readModels, 'auto_recharges', from, to)) {
      for (const { key, doc } of page) if (doc.status === status) found.push({ key, doc, at: Date.parse(doc.requestedAt) });
    }
    // Oldest first, then by key: the order of the index of pending requests.
    const requests = found.sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ doc }) => doc);
    return { status, requests };
  }
}
