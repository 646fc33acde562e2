import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LedgerError, type LedgerErrorCode } from '#domain';
import { StoreUnavailableError } from '#event-store';
import { Problem, problemTypeOf, validationProblem } from './problem.js';

const LEDGER_ERROR_STATUS: Record<LedgerErrorCode, { status: number; title: string }> = {
  CREDITS_INSUFFICIENT: { status: 402, title: 'Not enough credits' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, title: 'Idempotency key reused with another payload' },
  OCCURRED_AT_BEFORE_LATEST_EVENT: { status: 409, title: 'Time cannot go backwards within an account' },
  ACCOUNT_NOT_FOUND: { status: 404, title: 'Unknown account' },
  INVALID_COMMAND: { status: 400, title: 'The request is not valid' },
  PURCHASE_NOT_FOUND: { status: 404, title: 'Unknown purchase' },
  REFUND_NOT_ALLOWED: { status: 409, title: 'This purchase cannot be refunded' },
  AUTO_RECHARGE_NOT_FOUND: { status: 404, title: 'Unknown auto-recharge request' },
  AUTO_RECHARGE_NOT_PENDING: { status: 409, title: 'The auto-recharge request is no longer pending' },
};

/** Turns every failure into RFC 9457 Problem Details; nothing else ever reaches a caller. */
export function toProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof LedgerError) {
    if (error.code === 'INVALID_COMMAND') {
      return validationProblem((error.details.fields as { field: string; message: string }[]) ?? []);
    }
    const { status, title } = LEDGER_ERROR_STATUS[error.code];
    return new Problem(status, error.code, title, error.message, error.details);
  }
  if (error instanceof StoreUnavailableError) {
    // The cause (addresses, store internals) goes to the log, not to the caller.
    return new Problem(
      503,
      'STORE_UNAVAILABLE',
      'The ledger cannot write right now',
      'The event store is unavailable; retry the command with the same idempotency key: it will not be applied twice',
      {},
      { 'retry-after': '1' },
    );
  }
  if (error instanceof HttpException) {
    // The framework wraps its own body-parsing failures in HttpExceptions before any handler runs.
    const status = error.getStatus();
    if (status === 404) return new Problem(404, 'ROUTE_NOT_FOUND', 'Not found', 'No such route');
    if (status === 413) return new Problem(413, 'BODY_TOO_LARGE', 'Request body too large', error.message);
    if (status === 415) return new Problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send application/json', error.message);
    if (status === 400 && /JSON|body cannot be empty/i.test(error.message)) {
      return new Problem(400, 'MALFORMED_JSON', 'The body is not valid JSON', error.message);
    }
    if (status < 500) return new Problem(status, 'BAD_REQUEST', 'Bad request', error.message);
  }
  return new Problem(500, 'INTERNAL', 'Internal error', 'The ledger failed unexpectedly; nothing was answered as done');
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: Problem): void {
  void reply
    .status(problem.status)
    .headers(problem.headers)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .send(
      JSON.stringify({
        type: problemTypeOf(problem.code),
        title: problem.title,
        status: problem.status,
        detail: problem.detail,
        code: problem.code,
        instance: request.url,
        ...problem.extensions,
      }),
    );
}

@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const problem = toProblem(error);
    if (problem.status === 503) {
      // The request's logger carries its correlation id.
      request.log.warn({ url: request.url, cause: error instanceof Error ? error.message : String(error) }, 'event store unavailable');
    } else if (problem.status >= 500) {
      request.log.error({ url: request.url, err: error }, 'request failed');
    }
    sendProblem(http.getResponse<FastifyReply>(), request, problem);
  }
}
