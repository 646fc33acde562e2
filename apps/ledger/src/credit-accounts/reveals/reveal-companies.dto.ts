import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsOptional } from 'class-validator';
import type { RevealAction } from '#domain';
import { IsInstant, IsLedgerId } from '../shared/validation.js';

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

  @IsOptional()
  @IsLedgerId()
  userId?: string;

  @IsOptional()
  @IsBoolean()
  allowPartial?: boolean;

  @IsOptional()
  @IsInstant()
  occurredAt?: string;
}
