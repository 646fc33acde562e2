import {
  balancesAt,
  isUsableAt,
  iso,
  type CreditAccountState,
  type CreditType,
  type Instant,
} from '#domain';

export interface LotView {
  readonly purchaseId: string;
  readonly remaining: number;
  readonly expiresAt: string;
  readonly paid: boolean;
  readonly source: string;
}

export interface BalanceView {
  readonly asOf: string;
  readonly api: { readonly available: number; readonly lots: readonly LotView[] };
  readonly company: { readonly available: number; readonly lots: readonly LotView[] };
}

/** The balance of each credit type at an instant, with the lots that make it up in spending order. */
export function balanceView(state: CreditAccountState, at: Instant): BalanceView {
  const balances = balancesAt(state, at);
  const lotsOf = (creditType: CreditType): LotView[] =>
    state.spendable[creditType]
      .filter((lot) => isUsableAt(lot, at))
      .map((lot) => ({
        purchaseId: lot.purchaseId,
        remaining: lot.remaining,
        expiresAt: iso(lot.expiresAt),
        paid: lot.paid,
        source: lot.source,
      }));
  return {
    asOf: iso(at),
    api: { available: balances.api.available, lots: lotsOf('api') },
    company: { available: balances.company.available, lots: lotsOf('company') },
  };
}

export interface RevealStatusView {
  readonly companyId: string;
  readonly revealed: boolean;
  readonly windowEndsAt: string | null;
  readonly revealedAt: string | null;
}
