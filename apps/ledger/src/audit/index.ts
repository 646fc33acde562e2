import type { Provider, Type } from '@nestjs/common';
import { AccountEventsController } from './account-events.controller.js';
import { AccountStatementController } from './account-statement.controller.js';
import {
  GetAccountEventsHandler,
  GetAccountStatementHandler,
  GetFinancePositionHandler,
  GetLedgerEventsHandler,
} from './audit.queries.js';
import { FinancePositionController } from './finance-position.controller.js';
import { LedgerEventsController } from './ledger-events.controller.js';

/** Finance's routes (rule 13), every one under the `audit:read` scope. They need EVENT_STORE and CLOCK. */
export const AUDIT_CONTROLLERS: Type[] = [
  AccountEventsController,
  LedgerEventsController,
  AccountStatementController,
  FinancePositionController,
];

export const AUDIT_PROVIDERS: Provider[] = [
  GetAccountEventsHandler,
  GetLedgerEventsHandler,
  GetAccountStatementHandler,
  GetFinancePositionHandler,
];
