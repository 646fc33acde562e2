import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound, type Instant } from '#domain';
import { EVENT_STORE, type EventStore } from '#event-store';
import { accountStateAsOf, balanceView, CreditAccountWriter, type BalanceView } from '#ledger';

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
    @Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  async execute({ accountId, asOf }: GetBalanceQuery): Promise<BalanceView> {
    if (asOf === undefined) {
      const view = await this.writer.read(accountId, (state, now) => (state.exists ? balanceView(state, now) : undefined));
      if (!view) throw accountNotFound(accountId);
      return view;
    }
    // A past balance is the account's history folded up to that instant (rule 3: only lots unexpired then).
    const state = await accountStateAsOf(this.store, accountId, asOf);
    if (!state) throw accountNotFound(accountId);
    return balanceView(state, asOf);
  }
}
