import { IsIn, IsOptional } from 'class-validator';
import { WEBHOOK_RECORD_TYPES, type WebhookRecordType } from '#domain';
import { IsInstant, IsLedgerId } from '../shared/validation.js';

export class DispatchWebhookDto {
  @IsLedgerId()
  webhookEventId!: string;

  @IsLedgerId()
  webhookId!: string;

  @IsIn(WEBHOOK_RECORD_TYPES)
  recordType!: WebhookRecordType;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}
