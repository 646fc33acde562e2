import { IsIn, IsInt, IsString, Length, Max, Min, NotEquals } from 'class-validator';
import { CREDIT_TYPES, type CreditType } from '#domain';
import { MAX_CREDITS_PER_LOT } from '../purchases/purchase-credits.dto.js';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

export class AdjustCreditsDto {
  @IsLedgerId()
  adjustmentId!: string;

  @IsIn(CREDIT_TYPES)
  creditType!: CreditType;

  /** Positive grants credits (a lot of their own); negative removes them, never below zero. */
  @IsInt()
  @NotEquals(0)
  @Min(-MAX_CREDITS_PER_LOT)
  @Max(MAX_CREDITS_PER_LOT)
  credits!: number;

  /** Mandatory: finance must be able to tell why credits appeared or vanished. */
  @IsString()
  @Length(3, 500)
  reason!: string;

  /** For a grant; by default 12 calendar months later, like paid credits. */
  @OptionalField()
  @IsInstant()
  expiresAt?: string;

  /** The person acting, when the admin service knows it. */
  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
