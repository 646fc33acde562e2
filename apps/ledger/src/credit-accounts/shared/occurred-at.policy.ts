import { iso, MINUTE_MS, type Instant } from '#domain';
import type { Admission } from '#ledger';
import type { Principal } from '../../auth/scopes.js';
import { Problem, validationProblem } from '../../problems/problem.js';

/** How far a caller's clock may run ahead of or behind the ledger's without special rights. */
export const CLOCK_TOLERANCE_MS = 5 * MINUTE_MS;

/**
 * `occurredAt` may be given by the caller. In the future beyond the tolerance it is a mistake (400);
 * further in the past than the tolerance it is back-filling history, which only `ledger:admin` may do.
 * Checked when the command is decided, so a retry of a recorded command is never refused by it.
 */
export function occurredAtAdmission(occurredAt: Instant | undefined, principal: Principal): Admission | undefined {
  if (occurredAt === undefined) return undefined;
  return (now) => {
    if (occurredAt > now + CLOCK_TOLERANCE_MS) {
      return validationProblem([
        { field: 'occurredAt', message: `must not be more than 5 minutes in the future (now is ${iso(now)})` },
      ]);
    }
    if (occurredAt < now - CLOCK_TOLERANCE_MS && !principal.scopes.has('ledger:admin')) {
      return new Problem(
        403,
        'BACKDATING_NOT_ALLOWED',
        'Back-dated commands need ledger:admin',
        `occurredAt ${iso(occurredAt)} is more than 5 minutes in the past; back-filling history needs the ledger:admin scope`,
        { requiredScope: 'ledger:admin' },
      );
    }
    return undefined;
  };
}
