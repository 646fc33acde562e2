import { IsOptional, IsString, Length } from 'class-validator';
import { IsInstant, IsLedgerId } from '../shared/validation.js';

export class RefundPurchaseDto {
  /** The purchase to refund; also the idempotency key: a purchase is refunded at most once. */
  @IsLedgerId()
  purchaseId!: string;

  @IsOptional()
  @IsString()
  @Length(1, 500)
  reason?: string;

  @IsOptional()
  @IsLedgerId()
  userId?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}
