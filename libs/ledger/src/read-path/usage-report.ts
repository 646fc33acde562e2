/**
 * The usage page's data (rule 12): what an account consumed in a date range, in a time zone. Days are
 * calendar days in `timezone`, from `from` to `to` inclusive (YYYY-MM-DD). Credits are whole numbers.
 */
export const USAGE_SOURCES = ['job_search', 'company_search', 'technographics', 'webhooks', 'reveals', 'exports'] as const;
export type UsageSource = (typeof USAGE_SOURCES)[number];

export type BySource = Record<UsageSource, number>;

export interface UsageDay {
  readonly date: string;
  readonly credits: { readonly api: number; readonly company: number };
  readonly bySource: BySource;
  /** Billed calls: record-charge requests, reveal/export requests and webhook dispatches. */
  readonly requests: number;
  readonly webhookEvents: { readonly dispatched: number; readonly not_triggered: number };
}

export interface UsageLot {
  readonly purchaseId: string;
  readonly remaining: number;
  readonly expiresAt: string;
  readonly paid: boolean;
  readonly source: string;
  /** Expires within 30 days of the report's generation. */
  readonly expiringSoon: boolean;
}

export interface UsagePurchase {
  readonly purchaseId: string;
  readonly creditType: 'api' | 'company';
  readonly credits: number;
  readonly paid: boolean;
  readonly source: string;
  readonly amountMinor?: number;
  readonly currency?: string;
  readonly invoiceId?: string;
  readonly purchasedAt: string;
  readonly expiresAt: string;
  /** Refunded (rule 11): its credits left the balance. */
  readonly refunded?: boolean;
}

/** A movement of credits other than consumption, or an auto-recharge or alert event, in the range. */
export interface UsageActivity {
  readonly occurredAt: string;
  readonly type: string;
  readonly creditType: 'api' | 'company';
  /** Signed credits moved, when the event moved any. */
  readonly credits?: number;
  readonly summary: string;
}

export interface UsageReport {
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly timezone: string;
  readonly generatedAt: string;
  readonly days: readonly UsageDay[];
  readonly totals: Omit<UsageDay, 'date'>;
  readonly webhooks: readonly { readonly webhookId: string; readonly dispatched: number; readonly not_triggered: number }[];
  readonly byUser: readonly { readonly userId: string; readonly api: number; readonly company: number }[];
  readonly byApiKey: readonly { readonly apiKeyId: string; readonly api: number }[];
  readonly balances: {
    readonly api: { readonly available: number; readonly lots: readonly UsageLot[] };
    readonly company: { readonly available: number; readonly lots: readonly UsageLot[] };
  };
  readonly purchases: readonly UsagePurchase[];
  /** Purchases and recharges, refunds, adjustments, expiries, auto-recharge requests and failures, alerts. */
  readonly activity: readonly UsageActivity[];
}
