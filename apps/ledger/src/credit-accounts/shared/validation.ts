import { applyDecorators } from '@nestjs/common';
import { IsISO8601, Matches, ValidateIf, type ValidationOptions } from 'class-validator';

/** Ids (accounts, purchases, requests, companies…) are opaque but safe in URLs, logs and stream names. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@\/+=-]{0,127}$/;
export const ID_MESSAGE = '$property must be 1-128 characters: letters, digits and _ . : @ / + = -, starting with a letter or digit';

/**
 * The field may be left out; when it is present it is validated, and `null` is not a way of leaving it
 * out (class-validator's IsOptional would let `"occurredAt": null` through to the handler).
 */
export const OptionalField = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

export const IsLedgerId = (options: ValidationOptions = {}) => Matches(ID_PATTERN, { message: ID_MESSAGE, ...options });

/**
 * An instant in ISO 8601 with an explicit offset (or a bare date, read as UTC midnight): a time without
 * an offset would depend on the server's time zone.
 */
const INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
export const IsInstant = () =>
  applyDecorators(
    IsISO8601({ strict: true }, { message: '$property must be an ISO 8601 date-time with a time zone offset' }),
    Matches(INSTANT_PATTERN, { message: '$property must be an ISO 8601 date-time with a time zone offset' }),
  );

export function instantFromIso(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Date.parse(value);
}
