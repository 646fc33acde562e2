import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound, iso, type Instant } from '#domain';
import { EVENT_STORE, type EventStore } from '#event-store';
import {
  accountStateAsOf,
  balanceView,
  CLOCK,
  READ_MODELS,
  spendableLots,
  type AccountBalanceDoc,
  type BalanceView,
  type Clock,
  type SqliteReadModelStore,
} from '#ledger';
import { ReadConsistency } from '../../read-models/read-consistency.js';

export class GetBalanceQuery extends Query<BalanceView> {
  constructor(
    readonly accountId: string,
    /** Undefined for the current balance. */
    readonly asOf: Instant | undefined,
  ) {
    super();
  }
}

@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: SqliteReadModelStore,
    @Inject(ReadConsistency) private readonly consistency: ReadConsistency,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId, asOf }: GetBalanceQuery): Promise<BalanceView> {
    if (asOf !== undefined) {
      // A past balance is the account's history folded up to that instant (rule 3: only lots unexpired then).
      const state = await accountStateAsOf(this.store, accountId, asOf);
      if (!state?.exists) throw accountNotFound(accountId);
      return balanceView(state, asOf);
    }
    await this.consistency.catchUp(accountId);
    const balance = this.readModels.get<AccountBalanceDoc>('balances', accountId)?.doc;
    if (!balance) throw accountNotFound(accountId);
    const now = this.clock.now();
    const side = (creditType: 'api' | 'company') => {
      const lots = spendableLots(balance, creditType, now).map(({ purchaseId, remaining, expiresAt, paid, source }) => ({
        purchaseId,
        remaining,
        expiresAt,
        paid,
        source,
      }));
      return { available: lots.reduce((sum, lot) => sum + lot.remaining, 0), lots };
    };
    return { asOf: iso(now), api: side('api'), company: side('company') };
  }
}
