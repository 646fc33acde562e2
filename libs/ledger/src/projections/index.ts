import type { Projection } from './projection.js';
import { balancesProjection } from './balances.projection.js';
import { revealWindowsProjection } from './reveal-windows.projection.js';
import { usageProjection } from './usage.projection.js';
import { autoRechargesProjection } from './auto-recharges.projection.js';
import { balanceAlertsProjection } from './balance-alerts.projection.js';
import { accountActivityProjection } from './account-activity.projection.js';
import { purchasesProjection } from './purchases.projection.js';

export * from './projection.js';
export * from './read-model-store.js';
export * from './projection-engine.js';
export * from './parallel-rebuild.js';
export * from './projection-thread.js';
export * from './balances.projection.js';
export * from './reveal-windows.projection.js';
export * from './usage.projection.js';
export * from './auto-recharges.projection.js';
export * from './balance-alerts.projection.js';
export * from './account-activity.projection.js';
export * from './purchases.projection.js';

/** Every read model the ledger keeps. */
export const LEDGER_PROJECTIONS: readonly Projection<unknown>[] = [
  balancesProjection as Projection<unknown>,
  revealWindowsProjection as Projection<unknown>,
  usageProjection as Projection<unknown>,
  autoRechargesProjection as Projection<unknown>,
  balanceAlertsProjection as Projection<unknown>,
  accountActivityProjection as Projection<unknown>,
  purchasesProjection as Projection<unknown>,
];
