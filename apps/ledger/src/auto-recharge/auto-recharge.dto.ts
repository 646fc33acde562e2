import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { MAX_CREDITS_PER_LOT } from '../credit-accounts/purchases/purchase-credits.dto.js';
import { IsInstant, IsLedgerId } from '../credit-accounts/shared/validation.js';

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
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  monthlyCap?: number;

  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @IsOptional()
  @IsLedgerId()
  userId?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}

export class RemoveAutoRechargeRuleDto {
  @IsOptional()
  @IsLedgerId()
  userId?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}

export class FailAutoRechargeDto {
  @IsOptional()
  @IsString()
  @Length(1, 500)
  reason?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}

export class AutoRechargeFeedDto {
  @IsOptional()
  @IsIn(['pending', 'completed', 'failed'])
  status?: 'pending' | 'completed' | 'failed';

  @IsOptional()
  @IsLedgerId()
  accountId?: string;
}
