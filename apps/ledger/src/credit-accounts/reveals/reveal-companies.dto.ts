import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn } from 'class-validator';
import type { RevealAction } from '#domain';
import { IsInstant, IsLedgerId, OptionalField } from '../shared/validation.js';

export const MAX_COMPANIES_PER_REQUEST = 1000;

export class RevealCompaniesDto {
  @IsLedgerId()
  requestId!: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_COMPANIES_PER_REQUEST)
  @IsLedgerId({ each: true })
  companyIds!: string[];

  @IsIn(['reveal', 'export'])
  action!: RevealAction;

  @OptionalField()
  @IsLedgerId()
  userId?: string;

  @OptionalField()
  @IsBoolean()
  allowPartial?: boolean;

  @OptionalField()
  @IsInstant()
  occurredAt?: string;
}
