import { Controller, Get, Headers, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { IsString } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { CLOCK, type Clock, type UsageReport } from '#ledger';
import { PublicRoute, RequireScope, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { AccountIdPipe } from '../credit-accounts/shared/account-id.pipe.js';
import { Problem } from '../problems/problem.js';
import { renderUsagePage } from './usage-page.renderer.js';
import { LEDGER_CONFIG } from '../config/ledger-config.token.js';
import type { LedgerConfig } from '../config/ledger.config.js';
import { USAGE_PAGE_LINKS, UsagePageLinks } from './usage-page-links.js';
import { resolveUsageRange, UsageRangeDto } from './usage-range.js';
import { usageReportCsv } from './usage-report.csv.js';
import { GetUsageQuery } from './usage.query.js';
import { GetBalanceQuery } from '../credit-accounts/balance/balance.query.js';
import { OptionalField } from '../credit-accounts/shared/validation.js';

export class UsagePageQueryDto extends UsageRangeDto {
  @OptionalField()
  @IsString()
  exp?: string;

  @OptionalField()
  @IsString()
  sig?: string;
}

function wantsCsv(accept: string | undefined): boolean {
  return typeof accept === 'string' && /\btext\/csv\b/i.test(accept);
}

@Controller()
export class UsageController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(USAGE_PAGE_LINKS) private readonly links: UsagePageLinks,
    @Inject(LEDGER_CONFIG) private readonly config: LedgerConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The usage page's data (rule 12) as JSON, or as CSV with `Accept: text/csv`. */
  @Get('v1/accounts/:accountId/usage')
  @RequireScope('ledger:read')
  async usage(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Query() query: UsageRangeDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const report: UsageReport = await this.queries.execute(new GetUsageQuery(accountId, resolveUsageRange(query, this.clock.now())));
    if (!wantsCsv(accept)) return report;
    void reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="usage-${accountId}-${report.from}-${report.to}.csv"`);
    return usageReportCsv(report);
  }

  /**
   * A link to the usage page that a browser can open with no custom headers: signed for this account
   * only, and expiring. Internal services hand it to the person who asked.
   */
  @Post('v1/accounts/:accountId/usage-page-links')
  @RequireScope('ledger:read')
  async link(@Param('accountId', AccountIdPipe) accountId: string, @Req() request: AuthenticatedRequest) {
    // Fails with 404 for an account with no history, before any link exists for it (from its balances:
    // a whole usage report was read to learn only that).
    await this.queries.execute(new GetBalanceQuery(accountId, undefined));
    // Behind a proxy the Host the ledger sees is not the one people open: LEDGER_PUBLIC_URL says which.
    const base = this.config.publicUrl ?? `${request.protocol}://${request.headers.host ?? 'localhost'}`;
    return { accountId, ...this.links.sign(accountId, base) };
  }

  @Get('usage-page/:accountId')
  @PublicRoute()
  async page(
    @Param('accountId', AccountIdPipe) accountId: string,
    @Query() query: UsagePageQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const verdict = this.links.verify(accountId, { exp: query.exp, sig: query.sig });
    if (verdict !== 'valid') {
      throw new Problem(
        403,
        verdict === 'expired' ? 'LINK_EXPIRED' : 'LINK_INVALID',
        verdict === 'expired' ? 'This usage link has expired' : 'This usage link is not valid',
        verdict === 'expired' ? 'Ask for a new link to the usage page' : 'The link is not signed for this account',
      );
    }
    const report: UsageReport = await this.queries.execute(new GetUsageQuery(accountId, resolveUsageRange(query, this.clock.now())));
    void reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'");
    return renderUsagePage(report, {
      formAction: `/usage-page/${encodeURIComponent(accountId)}`,
      hiddenFields: { exp: query.exp!, sig: query.sig! },
    });
  }
}
