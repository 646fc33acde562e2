import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound } from '#domain';
import { CLOCK, READ_MODELS, usageReport, type Clock, type SqliteReadModelStore, type UsageReport } from '#ledger';
import { ReadConsistency } from '../read-models/read-consistency.js';

export class GetUsageQuery extends Query<UsageReport> {
  constructor(
    readonly accountId: string,
    readonly range: { readonly from: string; readonly to: string; readonly timezone: string },
  ) {
    super();
  }
}

@QueryHandler(GetUsageQuery)
export class GetUsageHandler implements IQueryHandler<GetUsageQuery> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId, range }: GetUsageQuery): Promise<UsageReport> {
    await this.consistency.catchUp(accountId);
    const report = await usageReport(this.readModels, accountId, range, this.clock.now());
    if (!report) throw accountNotFound(accountId);
    return report;
  }
}
