import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { CLOCK, type Clock } from '#ledger';
import { RequireScope } from '../auth/auth.guard.js';
import { breakageCsv, liabilityCsv, type BreakageReport, type LiabilityReport } from '#ledger';
import { financeAsOf, FinancePositionQueryDto } from './audit-params.js';
import { GetFinancePositionQuery } from './audit.queries.js';
import { CSV_CONTENT_TYPE, negotiate } from './content-negotiation.js';
import { JSON_CONTENT_TYPE, streamedJson } from './streamed-json.js';

@Controller('v1/audit')
export class FinancePositionController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Paid credits outstanding as of `asOf`, per lot with its value, and totals per currency (and credit type). */
  @Get('liability')
  @RequireScope('audit:read')
  async liability(
    @Query() query: FinancePositionQueryDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const format = negotiate(accept, ['application/json', 'text/csv']);
    const report = (await this.queries.execute(new GetFinancePositionQuery('liability', financeAsOf(query, this.clock.now())))) as LiabilityReport;
    void reply.header('vary', 'Accept');
    if (format === 'application/json') {
      void reply.header('content-type', JSON_CONTENT_TYPE);
      return streamedJson(report, 'lots');
    }
    void reply.header('content-type', CSV_CONTENT_TYPE);
    return liabilityCsv(report.lots);
  }

  /** Paid credits whose lot expired unspent at or before `asOf` (breakage), per lot and per currency. */
  @Get('breakage')
  @RequireScope('audit:read')
  async breakage(
    @Query() query: FinancePositionQueryDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const format = negotiate(accept, ['application/json', 'text/csv']);
    const report = (await this.queries.execute(new GetFinancePositionQuery('breakage', financeAsOf(query, this.clock.now())))) as BreakageReport;
    void reply.header('vary', 'Accept');
    if (format === 'application/json') {
      void reply.header('content-type', JSON_CONTENT_TYPE);
      return streamedJson(report, 'lots');
    }
    void reply.header('content-type', CSV_CONTENT_TYPE);
    return breakageCsv(report.lots);
  }
}
