import { IsBoolean, IsIn, IsInt, Max, Min } from 'class-validator';
import { RECORD_ENDPOINTS, type RecordEndpoint } from '#domain';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

/** No page of any data endpoint comes near this; it keeps a typo from draining a balance. */
export const MAX_RECORDS_PER_CALL = 1_000_000;

export class ChargeRecordsDto {
  @IsLedgerId()
  requestId!: string;

  @IsIn(RECORD_ENDPOINTS)
  endpoint!: RecordEndpoint;

  @IsInt()
  @Min(0)
  @Max(MAX_RECORDS_PER_CALL)
  records!: number;

  @OptionalField()
  @IsBoolean()
  allowPartial?: boolean;

  @OptionalField()
  @IsLedgerId()
  apiKeyId?: string;

  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
