import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound } from '#domain';
import {
  CLOCK,
  READ_MODELS,
  revealWindowKey,
  type AccountBalanceDoc,
  type Clock,
  type RevealStatusView,
  type RevealWindowDoc,
  type SqliteReadModelStore,
} from '#ledger';
import { ReadConsistency } from '../../read-models/read-consistency.js';

export class GetRevealStatusQuery extends Query<RevealStatusView> {
  constructor(
    readonly accountId: string,
    readonly companyId: string,
  ) {
    super();
  }
}

@QueryHandler(GetRevealStatusQuery)
export class GetRevealStatusHandler implements IQueryHandler<GetRevealStatusQuery> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId, companyId }: GetRevealStatusQuery): Promise<RevealStatusView> {
    await this.consistency.catchUp(accountId);
    if (!this.readModels.get<AccountBalanceDoc>('balances', accountId)) throw accountNotFound(accountId);
    const window = this.readModels.get<RevealWindowDoc>('reveal_windows', revealWindowKey(accountId, companyId))?.doc;
    const open = window !== undefined && Date.parse(window.windowEndsAt) > this.clock.now();
    return {
      companyId,
      revealed: open,
      windowEndsAt: open ? window.windowEndsAt : null,
      revealedAt: open ? window.revealedAt : null,
    };
  }
}
