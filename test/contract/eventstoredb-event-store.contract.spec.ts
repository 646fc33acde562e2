import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
// Only to write what the adapter refuses to write itself (stream metadata, in a `$$` system stream).
import { EventStoreDBClient } from '@eventstore/db-client';
import {
  collect,
  comparePositions,
  StoreUnavailableError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type NewEvent,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '#event-store';
import { EventStoreDbEventStore, type EventStoreDbEventStoreOptions } from '#event-store/eventstoredb';
import { EsdbTestServer } from '../esdb-test-server/esdb-test-server.js';
import { describeEventStoreContract } from './event-store.contract.js';

/**
 * Runs against a real EventStoreDB when EVENTSTORE_CONNECTION_STRING is set (e.g.
 * `esdb://localhost:2113?tls=false`; the server may be shared: every test uses streams of its own), and
 * against the in-memory test server otherwise. The reconnection tests stop and restart the server, so they
 * only run against the test server.
 */
const external = process.env.EVENTSTORE_CONNECTION_STRING || undefined;
let server: EsdbTestServer | undefined;
let connectionString: string;

/** Short retry delays: the reconnection tests wait for subscriptions to come back. */
const OPTIONS: EventStoreDbEventStoreOptions = { minRetryDelayMs: 20, maxRetryDelayMs: 200 };
const WAIT_MS = 5_000;

beforeAll(async () => {
  if (external !== undefined) {
    connectionString = external;
  } else {
    server = await EsdbTestServer.start();
    connectionString = server.connectionString;
  }
});

afterAll(async () => {
  await server?.stop();
});

describeEventStoreContract('EventStoreDbEventStore', async () => {
  let store = EventStoreDbEventStore.connect(connectionString, OPTIONS);
  return {
    store,
    reopen: async () => {
      await store.close();
      store = EventStoreDbEventStore.connect(connectionString, OPTIONS);
      return store;
    },
    cleanup: () => store.close(),
  };
});

describe('EventStoreDbEventStore', () => {
  let store: EventStoreDbEventStore;
  const subscriptions: Subscription[] = [];

  beforeEach(() => {
    store = EventStoreDbEventStore.connect(connectionString, OPTIONS);
  });

  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((subscription) => subscription.close()));
    await store.close();
  });

  function track(subscription: Subscription): Subscription {
    subscriptions.push(subscription);
    return subscription;
  }

  describe('appending', () => {
    it("maps EventStoreDB's wrong-expected-version answer to WrongExpectedRevisionError with the actual revision", async () => {
      const stream = streamName();
      await store.appendToStream(stream, newEvents(3), { expectedRevision: 'no_stream' });

      const stale = await store.appendToStream(stream, newEvents(1), { expectedRevision: 0n }).catch((e: unknown) => e);
      const missing = await store
        .appendToStream(streamName(), newEvents(1), { expectedRevision: 'stream_exists' })
        .catch((e: unknown) => e);
      const [outcome] = await store.appendMany([{ streamId: stream, expectedRevision: 7n, events: newEvents(1) }]);

      expect(stale).toBeInstanceOf(WrongExpectedRevisionError);
      expect((stale as Error).constructor).toBe(WrongExpectedRevisionError);
      expect(stale).toMatchObject({ streamId: stream, expectedRevision: 0n, actualRevision: 2n });
      expect(missing).toMatchObject({ expectedRevision: 'stream_exists', actualRevision: 'no_stream' });
      expect(outcome).toMatchObject({ ok: false, error: { expectedRevision: 7n, actualRevision: 2n } });
      expect(await collect(store.readStream(stream))).toHaveLength(3);
    });

    it('refuses, before sending anything, what EventStoreDB would hide, mistype or never acknowledge', async () => {
      const stream = streamName();
      const valid = newEvent();
      const attempts: [string, NewEvent[]][] = [
        [`$${stream}`, [valid]],
        [stream, [valid, { ...newEvent(), type: '$metadata' }]],
        [stream, [valid, { ...newEvent(), data: undefined }]],
        [stream, [valid, { ...newEvent(), data: { credits: 10n } }]],
        [stream, [valid, { ...newEvent(), id: randomUUID().toUpperCase() }]],
        [stream, [valid, { ...newEvent(), metadata: ['not', 'an', 'object'] as never }]],
      ];

      for (const [streamId, events] of attempts) {
        await expect(store.appendToStream(streamId, events, { expectedRevision: 'any' })).rejects.toBeInstanceOf(
          TypeError,
        );
        await expect(
          store.appendMany([
            { streamId: streamName(), expectedRevision: 'any', events: [newEvent()] },
            { streamId, expectedRevision: 'any', events },
          ]),
        ).rejects.toBeInstanceOf(TypeError);
      }

      await expect(collect(store.readStream(stream))).rejects.toBeInstanceOf(StreamNotFoundError);
    });

    it('sends the appends of one batch together, and the appends to one stream in order', async () => {
      const [a, b] = [streamName(), streamName()];
      const outcomes = await store.appendMany([
        { streamId: a, expectedRevision: 'no_stream', events: newEvents(2) },
        { streamId: b, expectedRevision: 'no_stream', events: newEvents(1) },
        { streamId: a, expectedRevision: 1n, events: newEvents(1) },
        { streamId: a, expectedRevision: 2n, events: newEvents(1) },
        { streamId: b, expectedRevision: 'no_stream', events: newEvents(1) },
      ]);

      expect(outcomes.map((o) => [o.streamId, o.ok])).toEqual([
        [a, true],
        [b, true],
        [a, true],
        [a, true],
        [b, false],
      ]);
      expect((await collect(store.readStream(a))).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
    });
  });

  describe('system events', () => {
    it('are hidden from readAll, whatever the direction, and from headPosition', async () => {
      const stream = streamName();
      const written = await store.appendToStream(stream, newEvents(2), { expectedRevision: 'no_stream' });
      // Stream metadata lives in the system stream `$$<stream>`, written after our events.
      await setStreamMetadata(stream);

      const [first] = await collect(store.readStream(stream));
      const after = await collect(store.readAll({ fromPosition: first!.position }));
      const latest = await collect(store.readAll({ direction: 'backwards', maxCount: 2 }));
      const fromStart = await collect(store.readAll({ maxCount: 50 }));

      expect(after.some((e) => e.streamId === stream)).toBe(true);
      for (const events of [after, latest, fromStart]) {
        expect(events.filter((e) => e.streamId.startsWith('$'))).toEqual([]);
      }
      expect(comparePositions((await store.headPosition())!, written.position)).toBeGreaterThanOrEqual(0);
      if (server !== undefined) {
        // Nobody else writes to the test server: its last events are ours, then the metadata event.
        expect(latest.map((e) => [e.streamId, e.revision])).toEqual([
          [stream, 1n],
          [stream, 0n],
        ]);
        expect(await store.headPosition()).toEqual(written.position);
        // …and its first ones the system events every node starts with.
        expect((await rawAll(5)).filter((id) => id.startsWith('$')).length).toBeGreaterThan(0);
      }
    });

    it('are not delivered to a subscription without a filter', async () => {
      const stream = streamName();
      const marker = await store.appendToStream(stream, newEvents(1), { expectedRevision: 'no_stream' });
      const subscription = track(store.subscribeToAll({ fromPosition: marker.position }));
      await setStreamMetadata(stream);
      const last = await store.appendToStream(stream, newEvents(1), { expectedRevision: 0n });

      const seen = await takeUntil(subscription, (e) => e.streamId === stream && e.revision === last.nextExpectedRevision);

      expect(seen.filter((e) => e.streamId.startsWith('$'))).toEqual([]);
      expect(seen.filter((e) => e.streamId === stream).map((e) => e.revision)).toEqual([1n]);
    });
  });

  describe('subscriptions', () => {
    it('deliver only the creditAccount- streams when filtered on that prefix', async () => {
      const marker = await store.appendToStream(streamName(), newEvents(1), { expectedRevision: 'no_stream' });
      const subscription = track(
        store.subscribeToAll({ fromPosition: marker.position, filter: { streamPrefixes: ['creditAccount-'] } }),
      );
      const [first, second] = [`creditAccount-${randomUUID()}`, `creditAccount-${randomUUID()}`];

      await store.appendToStream(`creditAccounts-${randomUUID()}`, newEvents(1), { expectedRevision: 'no_stream' });
      await store.appendToStream(first, newEvents(2), { expectedRevision: 'no_stream' });
      await store.appendToStream(`creditaccount-${randomUUID()}`, newEvents(1), { expectedRevision: 'no_stream' });
      await store.appendToStream(`account-creditAccount-${randomUUID()}`, newEvents(1), {
        expectedRevision: 'no_stream',
      });
      await store.appendToStream(second, newEvents(1), { expectedRevision: 'no_stream' });

      // A shared server may hold other creditAccount- streams: look only at ours among what arrives.
      const seen = await takeUntil(subscription, (e) => e.streamId === second);
      expect(seen.every((e) => e.streamId.startsWith('creditAccount-'))).toBe(true);
      expect(seen.filter((e) => e.streamId === first || e.streamId === second).map((e) => [e.streamId, e.revision])).toEqual([
        [first, 0n],
        [first, 1n],
        [second, 0n],
      ]);
    });

    it('hold the server back while the consumer is slow, then deliver the whole history in order', async () => {
      const category = categoryName();
      const stream = `${category}-a`;
      for (let revision = -1n; revision < 2999n; revision += 500n) {
        await store.appendToStream(stream, newEvents(500), { expectedRevision: revision < 0n ? 'no_stream' : revision });
      }
      const subscription = track(store.subscribeToAll({ filter: { streamPrefixes: [`${category}-`] } }));
      let caughtUp = false;
      void subscription.caughtUp.then(() => (caughtUp = true));

      await sleep(300);
      // Caught up means handed over: with 3000 events waiting, it cannot be yet.
      expect(caughtUp).toBe(false);
      const history = await take(subscription, 3000);
      await within(subscription.caughtUp);
      const live = await appendAndRead(stream, 1, 2999n);

      expect(history.map((e) => e.revision)).toEqual(Array.from({ length: 3000 }, (_, i) => BigInt(i)));
      expect(ids(await take(subscription, 1))).toEqual(ids(live));
    });

    it("fail, rather than retry for ever, from a position that is not an event's", async () => {
      const written = await store.appendToStream(streamName(), newEvents(1), { expectedRevision: 'no_stream' });
      const invalid = { commit: written.position.commit + 1n, prepare: written.position.prepare + 1n };

      const readError = await collect(store.readAll({ fromPosition: invalid })).catch((e: unknown) => e);
      const subscription = track(store.subscribeToAll({ fromPosition: invalid }));
      const subscriptionError = await within(subscription.caughtUp).catch((e: unknown) => e);
      const iterationError = await within(subscription[Symbol.asyncIterator]().next()).catch((e: unknown) => e);

      for (const error of [readError, subscriptionError, iterationError]) {
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message).toMatch(/EventStoreDB refused/);
      }
    });

    it("report EventStoreDB's checkpoints in order with the events, never going backwards", async () => {
      const category = categoryName();
      const marker = await store.appendToStream(streamName(), newEvents(1), { expectedRevision: 'no_stream' });
      const checkpoints: { position: Position; eventsBefore: number }[] = [];
      const delivered: RecordedEvent[] = [];
      const subscription = track(
        store.subscribeToAll({
          fromPosition: marker.position,
          filter: { streamPrefixes: [`${category}-`] },
          onCheckpoint: (position) => {
            checkpoints.push({ position, eventsBefore: delivered.length });
          },
        }),
      );

      const first = await store.appendToStream(`${category}-a`, newEvents(1), { expectedRevision: 'no_stream' });
      // Enough events of another stream for the server to report checkpoints in between (every 32 considered).
      const others = await store.appendToStream(streamName(), newEvents(100), { expectedRevision: 'no_stream' });
      const last = await store.appendToStream(`${category}-a`, newEvents(1), { expectedRevision: 0n });
      await takeUntil(subscription, (event) => delivered.push(event) === 2);

      expect(delivered.map((e) => e.position)).toEqual([first.position, last.position]);
      for (const [i, { position }] of checkpoints.entries()) {
        if (i > 0) expect(comparePositions(position, checkpoints[i - 1]!.position)).toBe(1);
      }
      // Those between our two events: reported once the first was taken, before the last was handed over.
      const between = checkpoints.filter(({ position }) => comparePositions(position, first.position) > 0);
      expect(between.length).toBeGreaterThan(0);
      for (const { position, eventsBefore } of between) {
        expect(eventsBefore).toBe(1);
        expect(comparePositions(position, last.position)).toBe(-1);
      }
      expect(comparePositions(between[0]!.position, others.position)).toBeLessThanOrEqual(0);
    });
  });

  (external === undefined ? describe : describe.skip)('when the server goes away', () => {
    afterEach(async () => {
      // Whatever a test did, the next one finds the server up.
      if (!(await isUp())) await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s
    });

    it('fails every call with StoreUnavailableError, and works again on the same instance once it is back', async () => {
      const stream = streamName();
      await store.appendToStream(stream, newEvents(1), { expectedRevision: 'no_stream' });

      await server!.stop();

      const failures = await Promise.all([
        store.appendToStream(stream, newEvents(1), { expectedRevision: 0n }).catch((e: unknown) => e),
        store.appendMany([{ streamId: stream, expectedRevision: 0n, events: newEvents(1) }]).catch((e: unknown) => e),
        collect(store.readStream(stream)).catch((e: unknown) => e),
        collect(store.readAll({ maxCount: 10 })).catch((e: unknown) => e),
        store.headPosition().catch((e: unknown) => e),
      ]);
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(StoreUnavailableError);
        expect(failure).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      }

      await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s

      await expect(store.appendToStream(stream, newEvents(1), { expectedRevision: 0n })).resolves.toMatchObject({
        nextExpectedRevision: 1n,
      });
      expect((await collect(store.readStream(stream))).map((e) => e.revision)).toEqual([0n, 1n]);
    });

    it('lets an append whose outcome was unknown be retried as it was, without writing it twice', async () => {
      const stream = streamName();
      const events = newEvents(2);
      const written = await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
      // The answer was lost with the connection: the caller cannot tell, and retries the same append.
      await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s

      await expect(store.appendToStream(stream, events, { expectedRevision: 'no_stream' })).resolves.toEqual(written);
      expect(await collect(store.readStream(stream))).toHaveLength(2);
    });

    it('resumes a live subscription where it was, delivering later events without loss or repetition', async () => {
      const category = categoryName();
      const stream = `${category}-a`;
      const subscription = track(store.subscribeToAll({ filter: { streamPrefixes: [`${category}-`] } }));
      const before = await appendAndRead(stream, 3, 'no_stream');
      expect(ids(await take(subscription, 2))).toEqual(ids(before.slice(0, 2)));

      await server!.stop();
      await expect(store.appendToStream(stream, newEvents(1), { expectedRevision: 2n })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await sleep(300); // a few failed attempts to resubscribe
      await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s
      const after = await appendAndRead(stream, 2, 2n);
      const sentinel = await appendAndRead(stream, 1, 4n);

      // The third event was received before the server went away, or is read again after: either way once.
      expect(ids(await take(subscription, 4))).toEqual(ids([before[2]!, ...after, ...sentinel]));
    });

    it('keeps the place of a subscription from the end across a restart before its first event', async () => {
      const category = categoryName();
      await store.appendToStream(`${category}-a`, newEvents(1), { expectedRevision: 'no_stream' });
      const subscription = track(store.subscribeToAll({ fromPosition: 'end', filter: { streamPrefixes: [`${category}-`] } }));
      await within(subscription.caughtUp);

      await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s
      // Appended before the subscription is back: still after the end it started from.
      const missed = await appendAndRead(`${category}-a`, 1, 0n);

      expect(ids(await take(subscription, 1))).toEqual(ids(missed));
    });

    it('catches up a subscription opened while the server was down once it is back', async () => {
      const category = categoryName();
      const history = await appendAndRead(`${category}-a`, 2, 'no_stream');
      await server!.stop();

      const subscription = track(store.subscribeToAll({ filter: { streamPrefixes: [`${category}-`] } }));
      let caughtUp = false;
      void subscription.caughtUp.then(() => (caughtUp = true));
      await sleep(300);
      expect(caughtUp).toBe(false);

      await server!.restart();
      await untilUp(); // the client reconnects with backoff; until then callers get (and retry) 503s
      expect(ids(await take(subscription, 2))).toEqual(ids(history));
      await within(subscription.caughtUp);
    });

    it('ends a subscription that is waiting to reconnect promptly when closed', async () => {
      const subscription = store.subscribeToAll({ filter: { streamPrefixes: [`${categoryName()}-`] } });
      const iterator = subscription[Symbol.asyncIterator]();
      await within(subscription.caughtUp);
      const pending = iterator.next();
      await server!.stop();
      await sleep(100);

      await within(subscription.close());

      await expect(within(pending)).resolves.toEqual({ value: undefined, done: true });
    });
  });

  describe('when the server does not answer', () => {
    let blackHole: ReturnType<typeof createServer>;
    const sockets = new Set<Socket>();
    let silent: EventStoreDbEventStore;

    beforeEach(async () => {
      // Accepts connections and never says a word, as a hung node would.
      blackHole = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
      const { port } = blackHole.address() as AddressInfo;
      silent = EventStoreDbEventStore.connect(`esdb://127.0.0.1:${port}?tls=false`, {
        appendTimeoutMs: 200,
        readTimeoutMs: 200,
      });
    });

    afterEach(async () => {
      // Dropping the connections fails whatever the client still waits for, so that nothing outlives the test.
      for (const socket of sockets) socket.destroy();
      await silent.close();
      await new Promise((resolve) => blackHole.close(resolve));
    });

    it('reports an append it gets no answer to as StoreUnavailableError, its outcome unknown', async () => {
      const started = Date.now();
      const error = await silent
        .appendToStream(streamName(), newEvents(1), { expectedRevision: 'no_stream' })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/may or may not have been written/);
      // The append's own deadline, plus the grace left for the server's "timed out" answer.
      expect(Date.now() - started).toBeLessThan(4_000);
    });

    it('abandons a read the server does not answer with StoreUnavailableError', async () => {
      const started = Date.now();

      await expect(collect(silent.readStream(streamName()))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(collect(silent.readAll())).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(2_000);
    });
  });

  async function untilUp(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await isUp())) {
      if (Date.now() > deadline) throw new Error('the store did not come back');
      await sleep(100);
    }
  }

  function isUp(): Promise<boolean> {
    return store.headPosition().then(
      () => true,
      () => false,
    );
  }

  async function appendAndRead(
    stream: string,
    count: number,
    expectedRevision: 'no_stream' | bigint,
  ): Promise<RecordedEvent[]> {
    const result = await store.appendToStream(stream, newEvents(count), { expectedRevision });
    return collect(
      store.readStream(stream, { fromRevision: result.nextExpectedRevision - BigInt(count - 1), maxCount: count }),
    );
  }
});

async function setStreamMetadata(stream: string): Promise<void> {
  const client = EventStoreDBClient.connectionString(connectionString);
  try {
    await client.setStreamMetadata(stream, { maxCount: 1_000_000 });
  } finally {
    await client.dispose();
  }
}

/** Stream ids of the first `count` events of `$all`, system events included, as the client reads them. */
async function rawAll(count: number): Promise<string[]> {
  const client = EventStoreDBClient.connectionString(connectionString);
  try {
    const streams: string[] = [];
    for await (const { event } of client.readAll({ maxCount: count })) if (event) streams.push(event.streamId);
    return streams;
  } finally {
    await client.dispose();
  }
}

const iterators = new WeakMap<Subscription, AsyncIterator<RecordedEvent>>();

/** Takes the next `count` events without ending the subscription (a `for await` + `break` would close it). */
async function take(subscription: Subscription, count: number): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  await takeUntil(subscription, (event) => {
    events.push(event);
    return events.length === count;
  });
  return events;
}

async function takeUntil(subscription: Subscription, last: (event: RecordedEvent) => boolean): Promise<RecordedEvent[]> {
  const iterator = iterators.get(subscription) ?? subscription[Symbol.asyncIterator]();
  iterators.set(subscription, iterator);
  const events: RecordedEvent[] = [];
  for (;;) {
    const next = await within(iterator.next(), `event ${events.length + 1}`);
    if (next.done) throw new Error(`Subscription ended after ${events.length} events`);
    events.push(next.value);
    if (last(next.value)) return events;
  }
}

async function within<T>(promise: Promise<T>, what = 'the promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function ids(events: readonly RecordedEvent[]): string[] {
  return events.map((e) => e.id);
}

/** A category of its own: EventStoreDB categories end at the first dash, so none here. */
function categoryName(): string {
  return `esdbAdapter${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

function streamName(): string {
  return `${categoryName()}-${randomUUID()}`;
}

function newEvent(): NewEvent {
  return {
    id: randomUUID(),
    type: 'AdapterTested',
    data: { at: Date.now() },
    metadata: { correlationId: randomUUID(), occurredAt: new Date().toISOString(), schemaVersion: 1 },
  };
}

function newEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, newEvent);
}
