import { IsBoolean, IsIn, IsInt, Matches, Max, Min } from 'class-validator';
import { CREDIT_TYPES, LOT_SOURCES, type CreditType, type PurchaseSource } from '#domain';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

/** Large enough for any real pack, small enough that sums stay exact integers. */
export const MAX_CREDITS_PER_LOT = 1_000_000_000;

export class PurchaseCreditsDto {
  @IsLedgerId()
  purchaseId!: string;

  @IsIn(CREDIT_TYPES)
  creditType!: CreditType;

  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS_PER_LOT)
  credits!: number;

  @OptionalField()
  @IsBoolean()
  paid?: boolean;

  @OptionalField()
  @IsIn(LOT_SOURCES)
  source?: PurchaseSource;

  /** The price paid, in the currency's minor unit (cents). */
  @OptionalField()
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  amountMinor?: number;

  @OptionalField()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an ISO 4217 code such as USD' })
  currency?: string;

  @OptionalField()
  @IsLedgerId()
  invoiceId?: string;

  @OptionalField()
  @IsInstant()
  expiresAt?: string;

  @OptionalField()
  @IsLedgerId()
  autoRechargeId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
