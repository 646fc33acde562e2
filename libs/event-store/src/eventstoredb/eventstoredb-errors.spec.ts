import { ErrorType } from '@eventstore/db-client';
import { classifyFailure } from './eventstoredb-errors.js';

/** Client errors are recognised by shape; these are the shapes `@eventstore/db-client` 6.2 produces. */
describe('classifying EventStoreDB client failures', () => {
  it('a wrong expected version is a conflict carrying the actual revision', () => {
    expect(classifyFailure({ type: ErrorType.WRONG_EXPECTED_VERSION, actualVersion: 4n })).toEqual({
      kind: 'conflict',
      actualRevision: 4n,
    });
    expect(classifyFailure({ type: ErrorType.WRONG_EXPECTED_VERSION, actualVersion: 'no_stream' })).toEqual({
      kind: 'conflict',
      actualRevision: 'no_stream',
    });
  });

  describe('when a cluster changes leader or a node goes away', () => {
    it.each([
      ['not leader (the node lost the election)', { type: ErrorType.NOT_LEADER, message: 'Not leader' }],
      ['unavailable', { type: ErrorType.UNAVAILABLE, message: '14 UNAVAILABLE' }],
      ['deadline exceeded', { type: ErrorType.DEADLINE_EXCEEDED, message: 'deadline' }],
      ['cancelled under the client', { type: ErrorType.CANCELLED, message: 'cancelled' }],
      ['a raw gRPC UNAVAILABLE from the features call', { code: 14, details: 'No connection established' }],
      ['gossip found no node', new Error('Failed to discover after 10 attempts.')],
    ])('%s is retryable: the append may or may not have landed', (_name, error) => {
      expect(classifyFailure(error)).toEqual({ kind: 'unavailable' });
    });
  });

  it('a status the server will give again (bad argument, access denied) is a refusal, not retried forever', () => {
    expect(classifyFailure({ type: ErrorType.UNKNOWN, code: 3, message: 'Invalid position' })).toEqual({ kind: 'refused' });
    expect(classifyFailure({ type: ErrorType.ACCESS_DENIED, message: 'denied' })).toEqual({ kind: 'refused' });
  });

  it('a missing stream on read is not-found; anything else is a bug of the caller', () => {
    expect(classifyFailure({ type: ErrorType.STREAM_NOT_FOUND })).toEqual({ kind: 'stream-not-found' });
    expect(classifyFailure(new TypeError('x is not a function'))).toEqual({ kind: 'bug' });
  });
});
