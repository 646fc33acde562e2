import { IsIn } from 'class-validator';
import { WEBHOOK_RECORD_TYPES, type WebhookRecordType } from '#domain';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

export class DispatchWebhookDto {
  @IsLedgerId()
  webhookEventId!: string;

  @IsLedgerId()
  webhookId!: string;

  @IsIn(WEBHOOK_RECORD_TYPES)
  recordType!: WebhookRecordType;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
