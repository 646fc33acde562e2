import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountNotFound, type Instant } from '#domain';
import { EVENT_STORE, type EventStore, type Position } from '#event-store';
import { LEDGER_CONFIG } from '../config/ledger-config.token.js';
import type { LedgerConfig } from '../config/ledger.config.js';
import {
  readAccountEvents,
  readAccountStatement,
  readFinancePosition,
  readLedgerEvents,
  type AccountEventsPage,
  type AccountStatement,
  type BreakageReport,
  type LedgerEventsPage,
  type LiabilityReport,
} from '#ledger';

/*
 * Audit reads go to the event store itself, not to the read models: finance audits what was recorded,
 * and these answers must not depend on a projection being up to date (or right). Events are answered
 * only once durable, so a read here sees every command already acknowledged.
 */

export class GetAccountEventsQuery extends Query<AccountEventsPage> {
  constructor(
    readonly accountId: string,
    readonly from: bigint,
    readonly limit: number,
  ) {
    super();
  }
}

@QueryHandler(GetAccountEventsQuery)
export class GetAccountEventsHandler implements IQueryHandler<GetAccountEventsQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ accountId, from, limit }: GetAccountEventsQuery): Promise<AccountEventsPage> {
    const page = await readAccountEvents(this.store, accountId, { from, limit });
    if (!page) throw accountNotFound(accountId);
    return page;
  }
}

export class GetLedgerEventsQuery extends Query<LedgerEventsPage> {
  constructor(
    readonly after: Position | undefined,
    readonly limit: number,
  ) {
    super();
  }
}

@QueryHandler(GetLedgerEventsQuery)
export class GetLedgerEventsHandler implements IQueryHandler<GetLedgerEventsQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  execute({ after, limit }: GetLedgerEventsQuery): Promise<LedgerEventsPage> {
    return readLedgerEvents(this.store, { ...(after !== undefined ? { after } : {}), limit });
  }
}

export class GetAccountStatementQuery extends Query<AccountStatement> {
  constructor(
    readonly accountId: string,
    readonly from: Instant,
    readonly to: Instant,
  ) {
    super();
  }
}

@QueryHandler(GetAccountStatementQuery)
export class GetAccountStatementHandler implements IQueryHandler<GetAccountStatementQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ accountId, from, to }: GetAccountStatementQuery): Promise<AccountStatement> {
    const statement = await readAccountStatement(this.store, accountId, { from, to });
    if (!statement) throw accountNotFound(accountId);
    return statement;
  }
}

export type FinanceReportKind = 'liability' | 'breakage';

export class GetFinancePositionQuery extends Query<LiabilityReport | BreakageReport> {
  constructor(
    readonly kind: FinanceReportKind,
    readonly asOf: Instant,
  ) {
    super();
  }
}

@QueryHandler(GetFinancePositionQuery)
export class GetFinancePositionHandler implements IQueryHandler<GetFinancePositionQuery> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LEDGER_CONFIG) private readonly config: LedgerConfig,
  ) {}

  async execute({ kind, asOf }: GetFinancePositionQuery): Promise<LiabilityReport | BreakageReport> {
    // The embedded store's events are folded in worker threads, off the thread that serves requests.
    const eventsFile = this.config.store.kind === 'sqlite' ? this.config.store.file : undefined;
    const position = await readFinancePosition(this.store, asOf, eventsFile === undefined ? {} : { eventsFile });
    return kind === 'liability' ? position.liability() : position.breakage();
  }
}
