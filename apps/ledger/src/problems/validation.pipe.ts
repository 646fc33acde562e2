import { ValidationPipe, type ValidationError } from '@nestjs/common';
import type { ValidatorOptions } from 'class-validator';
import { DTO_VALIDATION, passesDtoRules } from './dto-validation.js';
import { validationProblem, type FieldProblem } from './problem.js';

function flatten(errors: readonly ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** Asks class-validator only about a body its rules, run directly, do not pass (see `passesDtoRules`). */
class LedgerValidationPipe extends ValidationPipe {
  protected override validate(object: object, validatorOptions?: ValidatorOptions): Promise<ValidationError[]> | ValidationError[] {
    return passesDtoRules(object) ? [] : super.validate(object, validatorOptions);
  }
}

/**
 * Bodies and queries are checked against their DTOs: unknown fields and wrong types are refused with
 * every offending field listed, and nothing is coerced (the string "5" is not the number 5).
 */
export function ledgerValidationPipe(): ValidationPipe {
  return new LedgerValidationPipe({
    ...DTO_VALIDATION,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => validationProblem(flatten(errors)),
  });
}
