import { Body, Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import { ArrayMaxSize, ArrayMinSize, IsArray, Matches, type ValidationError } from 'class-validator';
import { ACCOUNT_ID_PATTERN, type RecordChargeAnswer } from '#domain';
import { RequireScope, principalOf, type AuthenticatedRequest } from '../../auth/auth.guard.js';
import { dtoErrors } from '../../problems/dto-validation.js';
import { toProblem } from '../../problems/problem-details.filter.js';
import { problemTypeOf, validationProblem, type FieldProblem } from '../../problems/problem.js';
import { dtoOf } from '../../problems/validation.pipe.js';
import { CommandSubmitter } from '../shared/ledger-command.js';
import { occurredAtAdmission } from '../shared/occurred-at.policy.js';
import { correlationIdOf } from '../shared/request-context.js';
import { instantFromIso } from '../shared/validation.js';
import { CHARGE_RECORDS_BATCH_RESPONSE } from './charge-records-batch.schema.js';
import { ChargeRecordsDto } from './charge-records.dto.js';

export const MAX_CHARGES_PER_BATCH = 1000;

/** One charge of a batch: a record charge, naming its account. */
export class BatchChargeDto extends ChargeRecordsDto {
  @Matches(ACCOUNT_ID_PATTERN, { message: 'accountId must be 1-128 characters: letters, digits and _ . : @ -' })
  accountId!: string;
}

export class ChargeRecordsBatchDto {
  /** Validated one by one below, so that a bad charge gets its own 400 and the others go through. */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_CHARGES_PER_BATCH)
  charges!: unknown[];
}

/** The charge as its DTO, for validation: a copy of its fields, as for every body (see `dtoOf`). */
export function batchChargeOf(raw: object): BatchChargeDto {
  return dtoOf(BatchChargeDto, raw);
}

function fieldProblems(errors: readonly ValidationError[]): FieldProblem[] {
  return errors.flatMap((e) => Object.values(e.constraints ?? {}).map((message) => ({ field: e.property, message })));
}

export type BatchResult =
  | { readonly index: number; readonly status: 200; readonly result: RecordChargeAnswer & { readonly accountId: string }; readonly replayed: boolean }
  | { readonly index: number; readonly status: number; readonly problem: Record<string, unknown> };

/**
 * Many record charges in one request, for any accounts (issue: batch route). Each charge is decided on
 * its own — its own idempotency key, its own refusal — and all of them share the write path's group
 * commits, so a batch of a thousand costs a handful of fsyncs. The answer lists one result per charge, in
 * order; the request itself succeeds (200) whenever the batch was well formed.
 */
@Controller()
export class RecordChargesBatchController {
  constructor(@Inject(CommandSubmitter) private readonly commands: CommandSubmitter) {}

  @Post('v1/record-charges::batch')
  @HttpCode(200)
  @RequireScope('ledger:write')
  @RouteSchema({ response: { 200: CHARGE_RECORDS_BATCH_RESPONSE } })
  async charge(@Body() body: ChargeRecordsBatchDto, @Req() request: AuthenticatedRequest): Promise<{ results: BatchResult[] }> {
    const principal = principalOf(request);
    const correlationId = correlationIdOf(request);
    const results = await Promise.all(
      body.charges.map(async (raw, index): Promise<BatchResult> => {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
          return problemResult(index, validationProblem([{ field: `charges[${index}]`, message: 'must be an object' }]));
        }
        const charge = batchChargeOf(raw);
        const errors = dtoErrors(charge);
        if (errors.length > 0) return problemResult(index, validationProblem(fieldProblems(errors)));
        const occurredAt = instantFromIso(charge.occurredAt);
        try {
          const { answer, replayed } = await this.commands.execute(
            {
              type: 'ChargeRecords',
              accountId: charge.accountId,
              requestId: charge.requestId,
              endpoint: charge.endpoint,
              records: charge.records,
              allowPartial: charge.allowPartial ?? false,
              ...(charge.apiKeyId !== undefined ? { apiKeyId: charge.apiKeyId } : {}),
              ...(charge.userId !== undefined ? { userId: charge.userId } : {}),
              ...(occurredAt !== undefined ? { occurredAt } : {}),
            },
            {
              correlationId,
              actor: principal.name,
              ...(charge.userId !== undefined ? { userId: charge.userId } : {}),
              ...(charge.apiKeyId !== undefined ? { apiKeyId: charge.apiKeyId } : {}),
            },
            occurredAtAdmission(occurredAt, principal),
          );
          return { index, status: 200, result: { accountId: charge.accountId, ...(answer as RecordChargeAnswer) }, replayed };
        } catch (error) {
          return problemResult(index, toProblem(error));
        }
      }),
    );
    return { results };
  }
}

/** A charge of the batch refused: its Problem Details, as the single route would answer them. */
export function problemResult(index: number, problem: ReturnType<typeof toProblem>): BatchResult {
  return {
    index,
    status: problem.status,
    problem: { type: problemTypeOf(problem.code), title: problem.title, status: problem.status, detail: problem.detail, code: problem.code, ...problem.extensions },
  };
}
