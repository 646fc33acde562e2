import type { CreditType, Lot } from '../lots/lot.js';
import type { RevealWindow } from '../reveal-windows/reveal-window.js';
import type { Instant } from '../shared/time.js';
import type { CreditAccountCommand } from './credit-account.commands.js';
import { distinctCompanies, idempotencyKeyOf } from './credit-account.commands.js';
import type {
  AutoRechargeRequest,
  AutoRechargeRule,
  BalanceAlertRules,
  CreditAccountState,
} from './credit-account.state.js';
import { IdempotencyEntries } from './idempotency-entries.js';

/**
 * The shape of `CreditAccountState` and the meaning of `evolve` that a snapshot was taken with. Raise it
 * whenever either changes (a new field, a rule folded differently): snapshots and offloaded idempotency
 * entries of another version are ignored and the account is folded from its events again. Version 3:
 * lots nothing is left of leave the state. Version 4: idempotency entries hold the credits available as two
 * numbers (`AvailableAfter`), not a `Balances`. Version 5: a charge's and a webhook's entries are stored as
 * a line of their fields (`entryText`), not as JSON.
 */
export const CREDIT_ACCOUNT_SNAPSHOT_VERSION = 5;

/**
 * An account state as plain JSON data, without its idempotency entries and reveal windows: those are
 * kept one row per key and per company beside the snapshot. There can be millions of each, and a snapshot
 * must cost what changed since the last one, not what the account ever did. A snapshot is derived data,
 * never the source of truth.
 */
export interface CreditAccountSnapshot {
  readonly exists: boolean;
  readonly latestEventAt: Instant | null;
  /** The lots with credits left (`CreditAccountState.lots`), in the order they were added. */
  readonly lots: readonly Lot[];
  /** Purchase ids of the spendable lots, in spending order. */
  readonly spendable: Readonly<Record<CreditType, readonly string[]>>;
  readonly autoRecharge: {
    readonly rules: Partial<Record<CreditType, AutoRechargeRule>>;
    readonly requests: readonly AutoRechargeRequest[];
    readonly outstanding: Partial<Record<CreditType, string>>;
    readonly perMonth: readonly (readonly [string, number])[];
  };
  readonly alerts: {
    readonly rules: Partial<Record<CreditType, BalanceAlertRules>>;
    readonly months: readonly (readonly [string, { bought: number; consumed: number }])[];
    readonly raised: number;
  };
}

export function snapshotOf(state: CreditAccountState): CreditAccountSnapshot {
  return {
    exists: state.exists,
    latestEventAt: state.latestEventAt ?? null,
    lots: [...state.lots.values()],
    spendable: {
      api: state.spendable.api.map((lot) => lot.purchaseId),
      company: state.spendable.company.map((lot) => lot.purchaseId),
    },
    autoRecharge: {
      rules: state.autoRecharge.rules,
      requests: [...state.autoRecharge.requests.values()],
      outstanding: state.autoRecharge.outstanding,
      perMonth: [...state.autoRecharge.perMonth],
    },
    alerts: { rules: state.alerts.rules, months: [...state.alerts.months], raised: state.alerts.raised },
  };
}

/** Each company's reveal windows, as stored beside a snapshot. */
export type CompanyWindows = readonly (readonly [companyId: string, windows: readonly RevealWindow[]])[];

/**
 * The state a snapshot describes, with no idempotency entries and no reveal windows: whoever restores it
 * must fetch the entries a command reads (`idempotencyKeysRead`) and the windows of the companies it names
 * (`companiesRead`) before deciding it. Copies the snapshot, so it (or the parsed JSON it came from) is
 * never shared with the mutable state.
 */
export function stateFromSnapshot(snapshot: CreditAccountSnapshot): CreditAccountState {
  const lots = new Map<string, Lot>();
  for (const lot of snapshot.lots) lots.set(lot.purchaseId, { ...lot });
  const spendableOf = (ids: readonly string[]) =>
    ids.map((id) => {
      const lot = lots.get(id);
      if (!lot) throw new Error(`Snapshot names spendable lot ${id} that it does not hold`);
      return lot;
    });
  const copy = <T>(value: T): T => structuredClone(value);
  return {
    exists: snapshot.exists,
    latestEventAt: snapshot.latestEventAt ?? undefined,
    spendable: { api: spendableOf(snapshot.spendable.api), company: spendableOf(snapshot.spendable.company) },
    lots,
    windows: new Map(),
    idempotency: new IdempotencyEntries(),
    autoRecharge: {
      rules: copy(snapshot.autoRecharge.rules),
      requests: new Map(snapshot.autoRecharge.requests.map((request) => [request.autoRechargeId, { ...request }])),
      outstanding: { ...snapshot.autoRecharge.outstanding },
      perMonth: new Map(snapshot.autoRecharge.perMonth),
    },
    alerts: {
      rules: copy(snapshot.alerts.rules),
      months: new Map(snapshot.alerts.months.map(([month, figures]) => [month, { ...figures }])),
      raised: snapshot.alerts.raised,
    },
  };
}

/** Every idempotency entry `decide` and `answer` may read for this command. */
export function idempotencyKeysRead(command: CreditAccountCommand): readonly string[] {
  const own = idempotencyKeyOf(command);
  // A refund checks the purchase it names.
  return command.type === 'RefundPurchase' ? [own, `purchase:${command.purchaseId}`] : [own];
}

const NO_COMPANIES: readonly string[] = [];

/** Every company whose reveal windows `decide` and `answer` may read for this command. */
export function companiesRead(command: CreditAccountCommand): readonly string[] {
  return command.type === 'RevealCompanies' ? distinctCompanies(command.companyIds) : NO_COMPANIES;
}
