import { ValidationPipe, type ValidationError, type ValidationPipeOptions } from '@nestjs/common';
import { instanceToPlain, plainToInstance } from 'class-transformer';
import type { ValidatorOptions } from 'class-validator';
import { DTO_VALIDATION, passesDtoRules, withUnknownFields } from './dto-validation.js';
import { validationProblem, type FieldProblem } from './problem.js';

function flatten(errors: readonly ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * A parsed JSON object as an instance of its DTO: a copy of its own fields. The ledger's DTOs are
 * classes of plain fields with no class-transformer rules (a test checks every DTO the controllers take),
 * so this is what class-transformer builds, without its walk over every value (3% of the request thread
 * on single charges). Unlike class-transformer, it keeps a field named like an inherited method
 * (`"toString"`), which the whitelist then refuses like any unknown field, instead of dropping it.
 */
export function dtoOf<T>(type: new () => T, plain: object): T {
  return Object.assign(new type() as object, plain) as T;
}

/**
 * class-transformer as the validation pipe uses it, with `dtoOf` for plain objects; anything else (an
 * array, a primitive) still goes to class-transformer. Nest's pipe uses the transformer of the pipe
 * created last, for every pipe: the ledger creates only this one.
 */
const DTO_TRANSFORMER: NonNullable<ValidationPipeOptions['transformerPackage']> = {
  plainToInstance: (type, plain, options) =>
    typeof plain === 'object' && plain !== null && !Array.isArray(plain) ? dtoOf(type, plain) : plainToInstance(type, plain, options),
  classToPlain: (object, options) => instanceToPlain(object, options),
};

/**
 * The paths (`charges.3.constructor`) of every own `constructor` or `prototype` key in a parsed value.
 * Every body and query goes through it, most of them flat: only objects are stacked (with their paths),
 * not every value, and what has been seen is remembered only once an object holds another. Not recursive,
 * so a body nested thousands deep is refused rather than overflowing the stack.
 */
export function prototypeKeysIn(value: unknown): string[] {
  const found: string[] = [];
  if (typeof value !== 'object' || value === null) return found;
  let seen: WeakSet<object> | undefined;
  const stack: { readonly object: object; readonly path: string }[] = [{ object: value, path: '' }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { object, path } = next;
    for (const key of Object.keys(object)) {
      if (key === 'constructor' || key === 'prototype') found.push(path === '' ? key : `${path}.${key}`);
      const child: unknown = (object as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      seen ??= new WeakSet<object>([value]);
      if (seen.has(child)) continue;
      seen.add(child);
      stack.push({ object: child, path: path === '' ? key : `${path}.${key}` });
    }
  }
  return found.sort();
}

/**
 * Asks class-validator only about a body its rules, run directly, do not pass (see `passesDtoRules`), and
 * refuses every field no rule names, whatever its name (see `withUnknownFields`).
 */
class LedgerValidationPipe extends ValidationPipe {
  /**
   * Nest removes `constructor` and `prototype` keys from a value before it becomes a DTO, at any depth,
   * without a word. The ledger refuses a body or query naming one anywhere instead, the whole request, as
   * the JSON parser refuses `__proto__`.
   */
  protected override stripProtoKeys(value: unknown): void {
    const named = prototypeKeysIn(value);
    if (named.length > 0) throw validationProblem(named.map((field) => ({ field, message: `property ${field} should not exist` })));
    super.stripProtoKeys(value);
  }

  protected override validate(object: object, validatorOptions?: ValidatorOptions): Promise<ValidationError[]> | ValidationError[] {
    if (passesDtoRules(object)) return [];
    return Promise.resolve(super.validate(object, validatorOptions)).then((errors) => withUnknownFields(object, errors));
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
    transformerPackage: DTO_TRANSFORMER,
    exceptionFactory: (errors) => validationProblem(flatten(errors)),
  });
}
