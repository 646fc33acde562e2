import { IsBoolean, IsIn, IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { CREDIT_TYPES, LOT_SOURCES, type CreditType, type PurchaseSource } from '#domain';
import { IsInstant, IsLedgerId } from '../shared/validation.js';

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

  @IsOptional()
  @IsBoolean()
  paid?: boolean;

  @IsOptional()
  @IsIn(LOT_SOURCES)
  source?: PurchaseSource;

  /** The price paid, in the currency's minor unit (cents). */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  amountMinor?: number;

  @IsOptional()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an ISO 4217 code such as USD' })
  currency?: string;

  @IsOptional()
  @IsLedgerId()
  invoiceId?: string;

  @IsOptional()
  @IsInstant()
  expiresAt?: string;

  @IsOptional()
  @IsLedgerId()
  autoRechargeId?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}
