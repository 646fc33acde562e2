import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound } from '#domain';
import { CreditAccountWriter, revealStatusView, type RevealStatusView } from '#ledger';

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
  constructor(@Inject(CreditAccountWriter) private readonly writer: CreditAccountWriter) {}

  async execute({ accountId, companyId }: GetRevealStatusQuery): Promise<RevealStatusView> {
    const view = await this.writer.read(accountId, (state, now) =>
      state.exists ? revealStatusView(state, companyId, now) : undefined,
    );
    if (!view) throw accountNotFound(accountId);
    return view;
  }
}
