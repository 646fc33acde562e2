import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '../auth/auth.guard.js';
import { ledgerEventsCsv, ledgerEventsNdjson, type LedgerEventsPage } from '#ledger';
import { LedgerEventsQueryDto, pageSizeOf, positionOf } from './audit-params.js';
import { GetLedgerEventsQuery } from './audit.queries.js';
import { CSV_CONTENT_TYPE, NDJSON_CONTENT_TYPE, negotiate } from './content-negotiation.js';

@Controller('v1/audit/events')
export class LedgerEventsController {
  constructor(private readonly queries: QueryBus) {}

  /**
   * Every event of the ledger in global order, a page at a time, as JSON, NDJSON or CSV. NDJSON and CSV
   * bodies have no room for the cursor, so every format also carries it in a `Link: <…>; rel="next"`
   * header; no next link (and `next: null`) means the page reached the end of the ledger for now.
   */
  @Get()
  @RequireScope('audit:read')
  async events(
    @Query() query: LedgerEventsQueryDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const format = negotiate(accept, ['application/json', 'application/x-ndjson', 'text/csv']);
    const limit = pageSizeOf(query.limit);
    const page: LedgerEventsPage = await this.queries.execute(new GetLedgerEventsQuery(positionOf(query.after), limit));
    void reply.header('vary', 'Accept');
    if (page.next) {
      const next = new URLSearchParams({ after: page.next.after, limit: String(limit) });
      void reply.header('link', `</v1/audit/events?${next.toString()}>; rel="next"`);
    }
    switch (format) {
      case 'application/json':
        return page;
      case 'application/x-ndjson':
        void reply.header('content-type', NDJSON_CONTENT_TYPE);
        return ledgerEventsNdjson(page.events);
      case 'text/csv':
        void reply.header('content-type', CSV_CONTENT_TYPE);
        return ledgerEventsCsv(page.events);
    }
  }
}
