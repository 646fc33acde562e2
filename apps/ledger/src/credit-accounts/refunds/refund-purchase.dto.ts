import { IsString, Length } from 'class-validator';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

export class RefundPurchaseDto {
  /** The purchase to refund; also the idempotency key: a purchase is refunded at most once. */
  @IsLedgerId()
  purchaseId!: string;

  @OptionalField()
  @IsString()
  @Length(1, 500)
  reason?: string;

  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
