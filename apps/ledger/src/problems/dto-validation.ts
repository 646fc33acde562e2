import {
  getMetadataStorage,
  validateSync,
  ValidationError,
  ValidationTypes,
  type ValidationArguments,
  type ValidatorConstraintInterface,
  type ValidatorOptions,
} from 'class-validator';

/**
 * How every request body and query is checked against its DTO: unknown fields are refused, nothing is
 * coerced elsewhere, and errors name the field (the values and the object stay out of them).
 */
export const DTO_VALIDATION = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
} as const satisfies ValidatorOptions;

/**
 * A DTO's rules, gathered once from class-validator's metadata, as one function that says whether an
 * instance passes all of them. class-validator gathers and groups the metadata again on every call, and
 * builds an error object per property even when all is well: on the batch route, a thousand charges a
 * request, that was 13% of the request thread.
 *
 * It only answers "valid" when class-validator would find no error, because it runs the very same
 * constraint functions under the same rules (`ValidateIf` first, then each constraint; a property with
 * no rule is not allowed). Anything it does not know how to run the way class-validator does (nested or
 * `each` validation, async constraints, promises) leaves the class to class-validator. On "not valid",
 * the caller asks class-validator, which gives the errors.
 */
type Check = (object: object) => boolean;

interface PropertyRules {
  readonly name: string;
  readonly conditions: readonly ((object: object, value: unknown) => boolean)[];
  readonly constraints: readonly {
    readonly validateIf: ((object: object, value: unknown) => boolean) | undefined;
    readonly constraints: unknown[];
    readonly validators: readonly ValidatorConstraintInterface[];
  }[];
}

const checks = new WeakMap<Function, Check | null>();

/** True only if class-validator, with `DTO_VALIDATION`, would find nothing wrong with `object`. */
export function passesDtoRules(object: object): boolean {
  const type: unknown = object.constructor;
  // Not a DTO instance (the validation pipe refuses a body's own `constructor` key before this, but nothing relies on it).
  if (typeof type !== 'function') return false;
  let check = checks.get(type);
  if (check === undefined) {
    check = compile(type);
    checks.set(type, check);
  }
  return check !== null && check(object);
}

/** class-validator's errors for `object` (with `DTO_VALIDATION`), without running it when there are none. */
export function dtoErrors(object: object): ValidationError[] {
  return passesDtoRules(object) ? [] : withUnknownFields(object, validateSync(object, DTO_VALIDATION));
}

const ruledFields = new WeakMap<Function, ReadonlySet<string>>();

/**
 * class-validator's errors with one more for each field of `object` that no rule of its class names and
 * that class-validator let through. Its whitelist looks a field up among the rules by plain property
 * access, so a field named like a method of `Object.prototype` taking arguments (`hasOwnProperty`,
 * `isPrototypeOf`, `__defineGetter__`…) passes for a field with rules.
 */
export function withUnknownFields(object: object, errors: ValidationError[]): ValidationError[] {
  const type: unknown = object.constructor;
  if (typeof type !== 'function') return errors;
  let fields = ruledFields.get(type);
  if (fields === undefined) {
    fields = new Set(ruleMetadatasOf(type).map((metadata) => metadata.propertyName));
    ruledFields.set(type, fields);
  }
  const reported = new Set(errors.map((error) => error.property));
  const unknown = Object.keys(object).filter((key) => !fields.has(key) && !reported.has(key));
  if (unknown.length === 0) return errors;
  return [
    ...errors,
    ...unknown.map((property) => Object.assign(new ValidationError(), { property, children: [], constraints: { whitelistValidation: `property ${property} should not exist` } })),
  ];
}

/** A DTO's rules, as class-validator's executor asks for them when validating without groups or a schema. */
function ruleMetadatasOf(type: Function) {
  return getMetadataStorage().getTargetValidationMetadatas(type, undefined as unknown as string, false, false, undefined);
}

function compile(type: Function): Check | null {
  const storage = getMetadataStorage();
  const metadatas = ruleMetadatasOf(type);
  // No rules at all is an error of its own with forbidUnknownValues.
  if (metadatas.length === 0) return null;
  const properties: PropertyRules[] = [];
  for (const [name, own] of Object.entries(storage.groupByPropertyName(metadatas))) {
    const rules: { conditions: PropertyRules['conditions'][number][]; constraints: PropertyRules['constraints'][number][] } = { conditions: [], constraints: [] };
    for (const metadata of own) {
      switch (metadata.type) {
        case ValidationTypes.WHITELIST:
          break;
        case ValidationTypes.CONDITIONAL_VALIDATION:
          rules.conditions.push(metadata.constraints[0] as (object: object, value: unknown) => boolean);
          break;
        case ValidationTypes.IS_DEFINED:
        case ValidationTypes.CUSTOM_VALIDATION: {
          if (metadata.each) return null;
          const validators = storage.getTargetValidatorConstraints(metadata.constraintCls);
          if (validators.some((validator) => validator.async)) return null;
          rules.constraints.push({
            validateIf: metadata.validateIf as ((object: object, value: unknown) => boolean) | undefined,
            constraints: metadata.constraints,
            validators: validators.map((validator) => validator.instance),
          });
          break;
        }
        default:
          return null;
      }
    }
    properties.push({ name, ...rules });
  }
  const allowed = new Set(properties.map((property) => property.name));
  return (object) => {
    for (const key of Object.keys(object)) if (!allowed.has(key)) return false;
    for (const { name, conditions, constraints } of properties) {
      const value = (object as Record<string, unknown>)[name];
      if (!conditions.every((condition) => condition(object, value))) continue;
      for (const rule of constraints) {
        if (rule.validateIf && !rule.validateIf(object, value)) continue;
        const args: ValidationArguments = { targetName: type.name, property: name, object, value, constraints: rule.constraints };
        for (const validator of rule.validators) {
          const valid: unknown = validator.validate(value, args);
          if (valid instanceof Promise || !valid) return false;
        }
      }
    }
    return true;
  };
}
