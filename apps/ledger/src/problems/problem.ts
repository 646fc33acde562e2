/**
 * An RFC 9457 problem the HTTP layer answers with. `code` is stable: callers branch on it, never on
 * the human-readable title or detail.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'Problem';
  }
}

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export function validationProblem(fields: readonly FieldProblem[]): Problem {
  return new Problem(
    400,
    'VALIDATION_FAILED',
    'The request is not valid',
    fields.map((f) => `${f.field}: ${f.message}`).join('; '),
    { fields },
  );
}

export function problemTypeOf(code: string): string {
  return `/problems/${code.toLowerCase().replace(/_/g, '-')}`;
}
