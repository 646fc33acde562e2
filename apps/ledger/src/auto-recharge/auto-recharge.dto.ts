import { IsBoolean, IsIn, IsInt, IsString, Length, Max, Min } from 'class-validator';
import { MAX_CREDITS_PER_LOT } from '../credit-accounts/purchases/purchase-credits.dto.js';
import { IsInstant, IsLedgerId, OptionalField } from '../credit-accounts/shared/validation.js';

export class SetAutoRechargeRuleDto {
  /** A charge leaving the balance below this asks for a recharge. */
  @IsInt()
  @Min(0)
  @Max(MAX_CREDITS_PER_LOT)
  threshold!: number;

  /** The pack the billing service buys each time. */
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS_PER_LOT)
  credits!: number;

  /** At most this many recharges per calendar month (UTC). */
  @OptionalField()
  @IsInt()
  @Min(1)
  @Max(1000)
  monthlyCap?: number;

  @OptionalField()
  @IsBoolean()
  enabled?: boolean;

  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}

export class RemoveAutoRechargeRuleDto {
  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}

export class FailAutoRechargeDto {
  @OptionalField()
  @IsString()
  @Length(1, 500)
  reason?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}

export class AutoRechargeFeedDto {
  @OptionalField()
  @IsIn(['pending', 'completed', 'failed'])
  status?: 'pending' | 'completed' | 'failed';

  @OptionalField()
  @IsLedgerId()
  accountId?: string;
}
