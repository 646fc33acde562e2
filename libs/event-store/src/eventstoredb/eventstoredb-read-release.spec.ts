import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { EventStoreDbEventStore } from './eventstoredb-event-store.js';

/**
 * What the client's `readStream` returns, as it builds it: the gRPC call (`call`, a readable stream of
 * server messages) piped into a transform that hands out events, with a `cancel()` that cancels the call.
 * A call the server has finished ignores `cancel()`: it ends once its last messages are read.
 */
function clientRead(): { read: Transform & { cancel(): Promise<void> }; call: Readable; cancelled: () => boolean } {
  const call = new Readable({ objectMode: true, read: () => undefined });
  let cancelled = false;
  const read = Object.assign(new Transform({ objectMode: true, transform: (message, _encoding, next) => next(null, message) }), {
    cancel: async () => {
      cancelled = true;
    },
  });
  call.pipe(read);
  return { read, call, cancelled: () => cancelled };
}

function resolvedEvent(revision: number): unknown {
  return {
    event: {
      id: randomUUID(),
      streamId: 'creditAccount-a',
      revision: BigInt(revision),
      position: { commit: BigInt(revision), prepare: BigInt(revision) },
      type: 'CreditsPurchased',
      data: {},
      metadata: undefined,
      created: new Date(0),
    },
  };
}

/** The adapter on a client whose reads are the given ones. */
function storeReading(reads: ReturnType<typeof clientRead>[]): EventStoreDbEventStore {
  const client = { readStream: () => reads.shift()!.read, dispose: async () => undefined };
  const settings = { appendTimeoutMs: 10_000, readTimeoutMs: 30_000, minRetryDelayMs: 10, maxRetryDelayMs: 100, requireLeader: true };
  return new (EventStoreDbEventStore as unknown as new (client: unknown, s: typeof settings) => EventStoreDbEventStore)(client, settings);
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => 'ended'), new Promise((resolve) => setTimeout(() => resolve(`not ended after ${ms} ms`), ms))]);

describe('EventStoreDbEventStore, a read its consumer leaves before the end', () => {
  it("reads the call to its end when the server's last message comes after the consumer left", async () => {
    const first = clientRead();
    const store = storeReading([first]);
    first.call.push(resolvedEvent(0));
    for await (const event of store.readStream('creditAccount-a')) {
      expect(event.revision).toBe(0n);
      break;
    }
    // The server's end of the read arrives now: the call must still be read to it, or it never ends (and
    // the client's dispose() waits for it for ever).
    first.call.push(resolvedEvent(1));
    first.call.push(null);
    expect(await within(finished(first.call), 2_000)).toBe('ended');
    expect(first.cancelled()).toBe(true);
  });

  it('gives up on a cancelled call that never ends, destroying what the client returned', async () => {
    const first = clientRead();
    const store = storeReading([first]);
    for (let i = 0; i < 3; i++) first.call.push(resolvedEvent(i));
    for await (const event of store.readStream('creditAccount-a')) if (event.revision === 0n) break;
    expect(await within(once(first.read, 'close'), 3_000)).toBe('ended');
    expect(first.read.destroyed).toBe(true);
    expect(first.cancelled()).toBe(true);
  });
});

