import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  ANY,
  type AppendExpectedRevision,
  type AppendToStreamOptions,
  BACKWARDS,
  binaryEvent,
  END,
  EventStoreDBClient,
  eventTypeFilter,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  type Position,
  type ResolvedEvent,
  START,
  STREAM_EXISTS,
  streamNameFilter,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb.js';
import type { BatchAppendResp } from '@eventstore/db-client/generated/streams_pb.js';
import { EsdbTestServer, type EsdbTestServerOptions } from './esdb-test-server.js';
import { emptyPb, serverFeaturesGrpc, sharedPb, streamsGrpc, streamsPb } from './generated.js';

/**
 * Drives the test server with the real `@eventstore/db-client` (and, for wire details the client
 * hides, its generated gRPC clients), asserting the wire-protocol facts of client 6.2.1 and server v24.10.
 */

/** Per-call credentials make the client use Append instead of BatchAppend (§2.1). */
const PATHS: ReadonlyArray<readonly [string, AppendToStreamOptions]> = [
  ['BatchAppend', {}],
  ['Append', { credentials: { username: 'admin', password: 'changeit' } }],
];

/** Servers to stop and clients to dispose after each test, so that jest can exit. */
const cleanups: Array<() => Promise<void>> = [];

async function startServer(options?: EsdbTestServerOptions): Promise<EsdbTestServer> {
  const started = await EsdbTestServer.start(options);
  cleanups.push(() => started.stop());
  return started;
}

function connect(connectionString: string): EventStoreDBClient {
  const connected = EventStoreDBClient.connectionString(connectionString);
  cleanups.push(() => connected.dispose());
  return connected;
}

let server: EsdbTestServer;
let client: EventStoreDBClient;

beforeEach(async () => {
  server = await startServer();
  client = connect(server.connectionString);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const event = (type: string, data: Record<string, unknown> = {}) => jsonEvent({ type, data });

async function collect(reads: AsyncIterable<ResolvedEvent>): Promise<Array<NonNullable<ResolvedEvent['event']>>> {
  const events = [];
  for await (const { event: recorded } of reads) events.push(recorded!);
  return events;
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What a subscription emits, in order: `confirmation`, `caughtUp` and `<stream>@<revision>` per event. */
function record(subscription: NodeJS.EventEmitter, timeline: string[] = []): string[] {
  subscription.on('confirmation', () => timeline.push('confirmation'));
  subscription.on('caughtUp', () => timeline.push('caughtUp'));
  subscription.on('data', ({ event: recorded }: ResolvedEvent) => timeline.push(`${recorded!.streamId}@${recorded!.revision}`));
  return timeline;
}

async function wrongExpectedVersion(append: Promise<unknown>): Promise<WrongExpectedVersionError> {
  const error = await append.then(() => undefined, (rejection: unknown) => rejection);
  expect(error).toBeInstanceOf(WrongExpectedVersionError);
  return error as WrongExpectedVersionError;
}

describe('appendToStream', () => {
  it('returns the revision and the position of the last event written (§2.5)', async () => {
    const first = await client.appendToStream('order-1', [event('Placed'), event('Paid'), event('Shipped')], { expectedRevision: NO_STREAM });
    const second = await client.appendToStream('order-2', event('Placed'));

    expect(first).toMatchObject({ success: true, nextExpectedRevision: 2n });
    expect(second).toMatchObject({ success: true, nextExpectedRevision: 0n });
    const written = await collect(client.readStream('order-1'));
    expect(written.map(({ revision }) => revision)).toEqual([0n, 1n, 2n]);
    expect(first.position).toEqual(written[2].position);
    expect(first.position!.commit).toBe(first.position!.prepare);
    expect(second.position!.commit).toBeGreaterThan(first.position!.commit);
  });

  it('writes an append contiguously in $all, and lets only one of two racing appends at one revision win (§7)', async () => {
    await client.appendToStream('account-1', event('Opened'));
    const race = await Promise.allSettled([
      client.appendToStream('account-1', [event('Credited'), event('Debited')], { expectedRevision: 0n }),
      client.appendToStream('account-1', [event('Closed')], { expectedRevision: 0n }),
    ]);

    expect(race.map(({ status }) => status).sort()).toEqual(['fulfilled', 'rejected']);
    const all = (await collect(client.readAll())).filter(({ streamId }) => !streamId.startsWith('$'));
    expect(all.map(({ type }) => type)).toEqual(['Opened', 'Credited', 'Debited']);
    const positions = all.map(({ position }) => position!.commit);
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
  });

  describe.each(PATHS)('over %s', (_path, options) => {
    it('applies the expected-revision rules and reports wrong expected versions in the body (§2.2–§2.4)', async () => {
      await client.appendToStream('cart-1', [event('A'), event('B'), event('C')], { ...options, expectedRevision: NO_STREAM });
      const expectWrong = async (stream: string, expectedRevision: AppendExpectedRevision) =>
        wrongExpectedVersion(client.appendToStream(stream, event('X'), { ...options, expectedRevision }));

      expect(await expectWrong('cart-1', NO_STREAM)).toMatchObject({ streamName: 'cart-1', expectedVersion: 'no_stream', actualVersion: 2n });
      expect(await expectWrong('cart-2', STREAM_EXISTS)).toMatchObject({ expectedVersion: 'stream_exists', actualVersion: 'no_stream' });
      expect(await expectWrong('cart-1', 5n)).toMatchObject({ expectedVersion: 5n, actualVersion: 2n });
      expect(await expectWrong('cart-2', 0n)).toMatchObject({ expectedVersion: 0n, actualVersion: 'no_stream' });
      const appendAt = (expectedRevision: AppendExpectedRevision) => client.appendToStream('cart-1', event('Y'), { ...options, expectedRevision });
      await expect(appendAt(2n)).resolves.toMatchObject({ nextExpectedRevision: 3n });
      await expect(appendAt(STREAM_EXISTS)).resolves.toMatchObject({ nextExpectedRevision: 4n });
      await expect(appendAt(ANY)).resolves.toMatchObject({ nextExpectedRevision: 5n });
    });

    it('treats a retry with the same event ids as idempotent and returns the original result (§6)', async () => {
      await client.appendToStream('ledger-1', event('Opened'), options);
      const events = [event('Credited', { amount: 5 }), event('Debited', { amount: 2 })];
      const original = await client.appendToStream('ledger-1', events, options);

      const retriedAny = await client.appendToStream('ledger-1', events, { ...options, expectedRevision: ANY });
      const retriedExact = await client.appendToStream('ledger-1', events, { ...options, expectedRevision: 0n });
      expect(retriedAny).toEqual(original);
      expect(retriedExact).toEqual(original);
      expect(await collect(client.readStream('ledger-1'))).toHaveLength(3);

      // Same first id, different second id: "corrupted idempotency", a wrong expected version even for `any`.
      expect(await wrongExpectedVersion(client.appendToStream('ledger-1', [events[0], event('Other')], options))).toMatchObject({
        expectedVersion: 'any',
        actualVersion: 2n,
      });
      // At the current revision there is no id check: the same events are written again.
      const again = await client.appendToStream('ledger-1', events, { ...options, expectedRevision: 2n });
      expect(again.nextExpectedRevision).toBe(4n);
    });
  });

  it('with throwOnAppendFailure=false, BatchAppend reports nextExpectedRevision 1n (client bug, §2.3) and Append the real one', async () => {
    const lenient = connect(`${server.connectionString}&throwOnAppendFailure=false`);
    await lenient.appendToStream('batch-1', [event('A'), event('B'), event('C'), event('D')]);

    const [batchAppend, append] = await Promise.all(
      PATHS.map(([, options]) => lenient.appendToStream('batch-1', event('E'), { ...options, expectedRevision: NO_STREAM })),
    );
    expect(batchAppend).toMatchObject({ success: false, nextExpectedRevision: 1n });
    expect(append).toMatchObject({ success: false, nextExpectedRevision: 3n });
  });
});

describe('readStream and readAll', () => {
  beforeEach(async () => {
    await client.appendToStream('thread-1', ['Opened', 'Replied', 'Replied', 'Closed'].map((type) => event(type)));
  });

  it('reads a stream from a revision inclusively in both directions, from START or END, up to maxCount (§3)', async () => {
    const revisions = async (options: Parameters<EventStoreDBClient['readStream']>[1]) =>
      (await collect(client.readStream('thread-1', options))).map(({ revision }) => revision);

    expect(await revisions({})).toEqual([0n, 1n, 2n, 3n]);
    expect(await revisions({ fromRevision: 1n, maxCount: 2 })).toEqual([1n, 2n]);
    expect(await revisions({ fromRevision: 2n, direction: BACKWARDS })).toEqual([2n, 1n, 0n]);
    expect(await revisions({ fromRevision: END, direction: BACKWARDS, maxCount: 1 })).toEqual([3n]);
    expect(await revisions({ fromRevision: START, direction: BACKWARDS })).toEqual([0n]);
    expect(await revisions({ fromRevision: END, direction: FORWARDS })).toEqual([]);
    expect(await revisions({ fromRevision: 9n })).toEqual([]);
  });

  it('answers a read of a missing stream with stream_not_found, which the client throws (§3)', async () => {
    await expect(collect(client.readStream('thread-404'))).rejects.toBeInstanceOf(StreamNotFoundError);
    await expect(collect(client.readStream('thread-404', { direction: BACKWARDS, fromRevision: END }))).rejects.toBeInstanceOf(
      StreamNotFoundError,
    );
  });

  it('reads $all forwards from a position inclusively and backwards exclusively (§3)', async () => {
    const thread = await collect(client.readStream('thread-1'));
    const types = async (options: Parameters<EventStoreDBClient['readAll']>[0]) =>
      (await collect(client.readAll(options))).filter(({ streamId }) => streamId === 'thread-1').map(({ type }) => type);

    expect(await types({ fromPosition: thread[1].position })).toEqual(['Replied', 'Replied', 'Closed']);
    expect(await types({ fromPosition: thread[1].position, maxCount: 1 })).toEqual(['Replied']);
    expect(await types({ fromPosition: thread[1].position, direction: BACKWARDS })).toEqual(['Opened']);
    expect(await types({ fromPosition: END, direction: BACKWARDS, maxCount: 1 })).toEqual(['Closed']);
    expect(await types({ fromPosition: START, direction: BACKWARDS })).toEqual([]);
    expect(await types({ fromPosition: END })).toEqual([]);
  });

  it('rejects an $all position that is not the start of a record with INVALID_ARGUMENT (§3)', async () => {
    const [opened] = await collect(client.readStream('thread-1'));
    const inside = { commit: opened.position!.commit + 1n, prepare: opened.position!.prepare + 1n };
    await expect(collect(client.readAll({ fromPosition: inside }))).rejects.toThrow('Invalid position');
  });

  it('returns events as written: string id, type, data, metadata, created in ticks (§5)', async () => {
    const json = jsonEvent({ type: 'Noted', data: { text: 'héllo' }, metadata: { causationId: 'c-1' } });
    const binary = binaryEvent({ type: 'Attached', data: Uint8Array.from([0, 1, 254]), metadata: Uint8Array.from([7]) });
    const before = Date.now();
    await client.appendToStream('notes-1', [json, binary]);

    const [noted, attached] = await collect(client.readStream('notes-1'));
    expect(noted).toMatchObject({ id: json.id, type: 'Noted', isJson: true, data: { text: 'héllo' }, metadata: { causationId: 'c-1' } });
    expect(attached).toMatchObject({ id: binary.id, type: 'Attached', isJson: false, data: Uint8Array.from([0, 1, 254]) });
    expect(attached.metadata).toEqual(Uint8Array.from([7]));
    expect(noted.created.getTime()).toBeGreaterThanOrEqual(before);
    expect(noted.created.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('shows $ system events in $all except those DefaultAllFilter hides (§7)', async () => {
    const streams = (await collect(client.readAll())).map(({ streamId }) => streamId);

    expect(streams).toEqual(expect.arrayContaining(['$settings', '$$$scavenges', '$projections-$all', 'thread-1']));
    expect(streams).not.toContain('$epoch-information');
    expect(streams.filter((stream) => stream.startsWith('$persistentsubscription-$all::'))).toEqual([]);
    // Reading the hidden stream itself is fine.
    await expect(collect(client.readStream('$epoch-information'))).resolves.toHaveLength(1);
  });

  it('starts without system events when seedSystemEvents is false; reset() forgets every event and ends subscriptions', async () => {
    const bare = await startServer({ seedSystemEvents: false });
    const bareClient = connect(bare.connectionString);
    await bareClient.appendToStream('only-1', event('Only'));
    expect((await collect(bareClient.readAll())).map(({ streamId }) => streamId)).toEqual(['only-1']);
    const subscription = bareClient.subscribeToAll();
    const errors: unknown[] = [];
    subscription.on('error', (error) => errors.push(error));
    const timeline = record(subscription);
    await eventually(() => timeline.includes('caughtUp'));

    bare.reset();
    await eventually(() => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(UnavailableError);
    expect(await collect(bareClient.readAll())).toEqual([]);
    await expect(bareClient.appendToStream('only-1', event('Again'), { expectedRevision: NO_STREAM })).resolves.toMatchObject({
      nextExpectedRevision: 0n,
    });
  });
});

describe('catch-up subscriptions (§4)', () => {
  it('subscribeToStream: confirmation, the events after the revision, caughtUp, then live events', async () => {
    await client.appendToStream('chat-1', [event('A'), event('B'), event('C')]);
    const subscription = client.subscribeToStream('chat-1', { fromRevision: 1n });
    const timeline = record(subscription);
    await eventually(() => timeline.includes('caughtUp'));

    await client.appendToStream('chat-1', event('D'));
    await client.appendToStream('chat-2', event('Elsewhere'));
    await eventually(() => timeline.length === 4);
    expect(timeline).toEqual(['confirmation', 'chat-1@2', 'caughtUp', 'chat-1@3']);
    await subscription.unsubscribe();
  });

  it('subscribeToStream to a missing stream waits for it, and from END delivers only new events', async () => {
    const missing = client.subscribeToStream('room-1');
    const missingTimeline = record(missing);
    await eventually(() => missingTimeline.includes('caughtUp'));
    await client.appendToStream('room-1', event('Created'));
    const fromEnd = client.subscribeToStream('room-1', { fromRevision: END });
    const fromEndTimeline = record(fromEnd);
    await eventually(() => fromEndTimeline.includes('caughtUp'));

    await client.appendToStream('room-1', event('Joined'));
    await eventually(() => missingTimeline.length === 4 && fromEndTimeline.length === 3);
    expect(missingTimeline).toEqual(['confirmation', 'caughtUp', 'room-1@0', 'room-1@1']);
    expect(fromEndTimeline).toEqual(['confirmation', 'caughtUp', 'room-1@1']);
    await Promise.all([missing.unsubscribe(), fromEnd.unsubscribe()]);
  });

  it('subscribeToAll: exclusive start position; excludeSystemEvents() drops $-typed events, not $ streams', async () => {
    const { position } = await client.appendToStream('feed-1', event('First'));
    await client.appendToStream('feed-1', event('Second'));
    await client.appendToStream('$user-stream', event('UserTypedInSystemStream'));
    const subscription = client.subscribeToAll({ fromPosition: position!, filter: excludeSystemEvents() });
    const timeline = record(subscription);
    await eventually(() => timeline.includes('caughtUp'));

    await client.appendToStream('$settings', event('$settings'));
    await client.appendToStream('feed-1', event('Third'));
    await eventually(() => timeline.includes('feed-1@2'));
    expect(timeline).toEqual(['confirmation', 'feed-1@1', '$user-stream@0', 'caughtUp', 'feed-1@2']);
    await subscription.unsubscribe();
  });

  it('subscribeToAll: unfiltered sees visible $ streams; stream-name prefixes and event-type regexes filter', async () => {
    await client.appendToStream('invoice-1', event('InvoiceIssued'));
    await client.appendToStream('payment-1', event('PaymentReceived'));
    const unfiltered = client.subscribeToAll();
    const byStream = client.subscribeToAll({ filter: streamNameFilter({ prefixes: ['payment-', 'refund-'] }) });
    const byType = client.subscribeToAll({ filter: eventTypeFilter({ regex: '^Invoice' }) });
    const [all, payments, invoices] = [record(unfiltered), record(byStream), record(byType)];
    await eventually(() => [all, payments, invoices].every((timeline) => timeline.includes('caughtUp')));

    await client.appendToStream('refund-1', event('InvoiceRefunded'));
    await eventually(() => all.includes('refund-1@0') && payments.includes('refund-1@0') && invoices.includes('refund-1@0'));
    const systemEvents = ['$settings@0', '$$$scavenges@0', '$projections-$all@0'];
    expect(all).toEqual(['confirmation', ...systemEvents, 'invoice-1@0', 'payment-1@0', 'caughtUp', 'refund-1@0']);
    expect(payments).toEqual(['confirmation', 'payment-1@0', 'caughtUp', 'refund-1@0']);
    expect(invoices).toEqual(['confirmation', 'invoice-1@0', 'caughtUp', 'refund-1@0']);
    await Promise.all([unfiltered, byStream, byType].map((subscription) => subscription.unsubscribe()));
  });

  it('filtered subscriptions get checkpoints every 32 × multiplier events considered, before caughtUp, and live', async () => {
    const quiet = await startServer({ seedSystemEvents: false });
    const quietClient = connect(quiet.connectionString);
    const noise = (count: number) => Array.from({ length: count }, () => event('Noise'));
    await quietClient.appendToStream('noise-1', noise(70));
    await quietClient.appendToStream('wanted-1', event('Wanted'));
    const positions = (await collect(quietClient.readAll())).map(({ position }) => position!.commit);

    const subscribe = (checkpointInterval: number) => {
      const timeline: string[] = [];
      const checkpoints: bigint[] = [];
      const checkpointReached = (_: unknown, { commit, prepare }: Position) => {
        expect(prepare).toBe(commit);
        checkpoints.push(commit);
        timeline.push('checkpoint');
      };
      const filter = eventTypeFilter({ prefixes: ['Wanted'], checkpointInterval, checkpointReached });
      const subscription = quietClient.subscribeToAll({ filter });
      record(subscription, timeline);
      return { subscription, timeline, checkpoints };
    };
    const every32 = subscribe(1);
    const every64 = subscribe(2);
    await eventually(() => [every32, every64].every(({ timeline }) => timeline.includes('caughtUp')));

    // Catch-up: after the 32nd and 64th events considered, and at the last one just before caught_up.
    expect(every32.timeline).toEqual(['confirmation', 'checkpoint', 'checkpoint', 'wanted-1@0', 'checkpoint', 'caughtUp']);
    expect(every32.checkpoints).toEqual([positions[31], positions[63], positions[70]]);
    expect(every64.checkpoints).toEqual([positions[63], positions[70]]);

    // Live: a new count starts at caught_up; the checkpoint is at the 32nd (64th) event's position.
    await quietClient.appendToStream('noise-1', noise(64));
    const live = (await collect(quietClient.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 64 }))).reverse();
    await eventually(() => every32.checkpoints.length === 5 && every64.checkpoints.length === 3);
    expect(every32.checkpoints.slice(3)).toEqual([live[31].position!.commit, live[63].position!.commit]);
    expect(every64.checkpoints.slice(2)).toEqual([live[63].position!.commit]);

    await Promise.all([every32, every64].map(({ subscription }) => subscription.unsubscribe()));
  });
});

describe('connection', () => {
  it('advertises batchappend (and the other implemented methods) as server version 24.10.0 (§1)', async () => {
    const features = new serverFeaturesGrpc.ServerFeaturesClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const supported = await new Promise<SupportedMethods>((resolve, reject) =>
      features.getSupportedMethods(new sharedPb.Empty(), (error, response) => (error ? reject(error) : resolve(response))),
    );
    features.close();

    expect(supported.getEventStoreServerVersion()).toBe('24.10.0');
    expect(supported.getMethodsList().map((method) => `${method.getServiceName()}/${method.getMethodName()}`)).toEqual([
      'event_store.client.streams.streams/read',
      'event_store.client.streams.streams/append',
      'event_store.client.streams.streams/batchappend',
      'event_store.client.gossip.gossip/read',
      'event_store.client.server_features.serverfeatures/getsupportedmethods',
    ]);
  });

  it('BatchAppend answers only the final chunk, echoes correlation id and stream identifier, and keeps the call open (§2.3)', async () => {
    const streams = new streamsGrpc.StreamsClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = streams.batchAppend();
    const responses: BatchAppendResp[] = [];
    let ended = false;
    call.on('data', (response) => responses.push(response));
    call.on('end', () => (ended = true));
    call.on('error', () => undefined); // the cancellation below

    const correlationId = new sharedPb.UUID().setString('7d5b0e4c-2f1a-4c3e-9a57-0a4b8e8f6a01');
    const streamIdentifier = new sharedPb.StreamIdentifier().setStreamName(Buffer.from('chunked-1'));
    const message = (type: string) => {
      const proposed = new streamsPb.BatchAppendReq.ProposedMessage()
        .setId(new sharedPb.UUID().setString(randomUUID()))
        .setData(Buffer.from('{}'));
      proposed.getMetadataMap().set('type', type).set('content-type', 'application/json');
      return proposed;
    };
    const options = new streamsPb.BatchAppendReq.Options().setStreamIdentifier(streamIdentifier).setAny(new emptyPb.Empty());
    call.write(new streamsPb.BatchAppendReq().setCorrelationId(correlationId).setOptions(options).setProposedMessagesList([message('A')]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(responses).toHaveLength(0);

    call.write(new streamsPb.BatchAppendReq().setCorrelationId(correlationId).setProposedMessagesList([message('B')]).setIsFinal(true));
    await eventually(() => responses.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [response] = responses;
    expect(response.getCorrelationId()!.getString()).toBe(correlationId.getString());
    expect(Buffer.from(response.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe('chunked-1');
    expect(response.getSuccess()!.getCurrentRevision()).toBe('1');
    expect(ended).toBe(false);
    call.cancel();
    streams.close();
  });

  it('on stop, operations fail with UNAVAILABLE; after restart on the same port the same client works on the same data', async () => {
    await client.appendToStream('durable-1', event('Before'));
    const subscription = client.subscribeToStream('durable-1');
    const errors: unknown[] = [];
    subscription.on('error', (error) => errors.push(error));
    const timeline = record(subscription);
    await eventually(() => timeline.includes('caughtUp'));

    await server.stop();
    await eventually(() => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(UnavailableError);
    // While down, the first append fails fetching server features, which the client passes on raw.
    const unavailable = { code: grpc.status.UNAVAILABLE };
    await expect(client.appendToStream('durable-1', event('WhileDown'))).rejects.toMatchObject(unavailable);
    await expect(collect(client.readStream('durable-1'))).rejects.toMatchObject(unavailable);

    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    const after = await client.appendToStream('durable-1', event('After'), { expectedRevision: 0n });
    expect(after.nextExpectedRevision).toBe(1n);
    expect((await collect(client.readStream('durable-1'))).map(({ type }) => type)).toEqual(['Before', 'After']);
  });

  it('answers gossip with itself as leader, so multi-host and discover connection strings work (§1)', async () => {
    const deadPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const clusterClient = connect(`esdb://127.0.0.1:${deadPort},127.0.0.1:${server.port}?tls=false`);
    const discoverClient = connect(`esdb+discover://localhost:${server.port}?tls=false`);

    await clusterClient.appendToStream('cluster-1', event('ViaGossip'));
    await discoverClient.appendToStream('cluster-1', event('ViaDiscover'));
    expect((await collect(client.readStream('cluster-1'))).map(({ type }) => type)).toEqual(['ViaGossip', 'ViaDiscover']);
  });
});
