import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { RECORD_ENDPOINTS, type RecordEndpoint } from '#domain';
import { IsInstant, IsLedgerId } from '../shared/validation.js';

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

  @IsOptional()
  @IsBoolean()
  allowPartial?: boolean;

  @IsOptional()
  @IsLedgerId()
  apiKeyId?: string;

  @IsOptional()
  @IsLedgerId()
  userId?: string;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}
