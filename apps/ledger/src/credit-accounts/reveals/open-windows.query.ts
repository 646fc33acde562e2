import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound } from '#domain';
import { CLOCK, READ_MODELS, readAllPages, type AccountBalanceDoc, type Clock, type RevealWindowDoc, type SqliteReadModelStore } from '#ledger';
import { ReadConsistency } from '../../read-models/read-consistency.js';

export interface OpenWindowView {
  readonly companyId: string;
  readonly revealedAt: string;
  readonly windowEndsAt: string;
  readonly action: 'reveal' | 'export';
}

/** The companies an account can view, reveal and export for free right now (rule 5), soonest to close first. */
export class GetOpenWindowsQuery extends Query<OpenWindowView[]> {
  constructor(readonly accountId: string) {
    super();
  }
}

@QueryHandler(GetOpenWindowsQuery)
export class GetOpenWindowsHandler implements IQueryHandler<GetOpenWindowsQuery> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId }: GetOpenWindowsQuery): Promise<OpenWindowView[]> {
    await this.consistency.catchUp(accountId);
    if (!this.readModels.get<AccountBalanceDoc>('balances', accountId)) throw accountNotFound(accountId);
    // From the index of window ends, per account: the closed windows, which only grow, are not read.
    const open = await readAllPages((limit, after) =>
      this.readModels.indexedDocs<RevealWindowDoc>('reveal_windows', { group: accountId, above: this.clock.now() }, limit, after),
    );
    return open.map(({ doc: { companyId, revealedAt, windowEndsAt, action } }) => ({ companyId, revealedAt, windowEndsAt, action }));
  }
}
