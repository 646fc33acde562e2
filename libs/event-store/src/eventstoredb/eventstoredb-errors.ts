import { ErrorType } from '@eventstore/db-client';

/**
 * What a failure of a call through `@eventstore/db-client` means for the caller:
 * - `conflict`: the server checked the expected revision and refused; nothing was written;
 * - `stream-not-found`: a read of a stream with no events;
 * - `unavailable`: the server could not be reached, or went away, or did not answer in time. For an append
 *   the outcome is *unknown*: it may have been written. Retrying with the same event ids is safe, because
 *   EventStoreDB answers a repeated append with the original result instead of writing it twice;
 * - `refused`: the server understood and will refuse again (access denied, stream deleted, too large…);
 * - `bug`: not an error of the client or the server at all, but of the code calling it.
 */
export type EsdbFailure =
  | { readonly kind: 'conflict'; readonly actualRevision: bigint | 'no_stream' }
  | { readonly kind: 'stream-not-found' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'refused' }
  | { readonly kind: 'bug' };

/**
 * The client's error types after which the same call may well succeed later. `unknown` is among them when
 * it carries no status code or a retryable one: the client reports that way a stream cancelled under it (its
 * own `dispose()`), a gRPC INTERNAL/UNKNOWN status (typically a connection reset mid-call) and a BatchAppend
 * failure the server could not classify. Treating such an append as failed would risk a silent loss;
 * treating it as unknown costs at most a retry.
 */
const RETRYABLE_TYPES: ReadonlySet<string> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.CANCELLED,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.NOT_LEADER,
  ErrorType.UNKNOWN,
]);

const COMMAND_ERROR_TYPES: ReadonlySet<string> = new Set(Object.values(ErrorType));

/**
 * gRPC status codes (numeric, as `@grpc/grpc-js` reports them) of a call that may succeed if retried, for
 * the few errors the client passes on without converting: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE.
 */
const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([1, 2, 4, 8, 10, 13, 14]);

/** Thrown by the client when no node of a cluster answered its gossip (`esdb+discover://`, several hosts). */
const DISCOVERY_FAILED = /^Failed to discover after \d+ attempts/;

/**
 * Recognised by shape, not `instanceof`: jest gives each test file its own copy of the client's modules, and
 * the error classes of one copy are not those of another.
 */
export function classifyFailure(error: unknown): EsdbFailure {
  if (typeof error !== 'object' || error === null) return { kind: 'bug' };
  const { type, code, message } = error as { type?: unknown; code?: unknown; message?: unknown };
  if (typeof type === 'string' && COMMAND_ERROR_TYPES.has(type)) {
    if (type === ErrorType.WRONG_EXPECTED_VERSION) {
      return { kind: 'conflict', actualRevision: actualRevisionOf(error) };
    }
    if (type === ErrorType.STREAM_NOT_FOUND) return { kind: 'stream-not-found' };
    // The client turns every gRPC status it has no class for into `unknown`, keeping the status code:
    // INVALID_ARGUMENT (a position that is not the start of a record) must not be retried forever.
    if (type === ErrorType.UNKNOWN && typeof code === 'number') {
      return RETRYABLE_GRPC_CODES.has(code) ? { kind: 'unavailable' } : { kind: 'refused' };
    }
    return RETRYABLE_TYPES.has(type) ? { kind: 'unavailable' } : { kind: 'refused' };
  }
  if (typeof code === 'number' && 'details' in error) {
    return RETRYABLE_GRPC_CODES.has(code) ? { kind: 'unavailable' } : { kind: 'refused' };
  }
  if (typeof message === 'string' && DISCOVERY_FAILED.test(message)) return { kind: 'unavailable' };
  return { kind: 'bug' };
}

export function isRetryable(error: unknown): boolean {
  return classifyFailure(error).kind === 'unavailable';
}

/**
 * The client reports the stream's revision as a bigint, or 'no_stream'. Servers before 20.6 answered in
 * trailers, where a missing stream may come back as -1.
 */
function actualRevisionOf(error: object): bigint | 'no_stream' {
  const { actualVersion } = error as { actualVersion?: unknown };
  if (typeof actualVersion === 'bigint') return actualVersion < 0n ? 'no_stream' : actualVersion;
  return 'no_stream';
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
