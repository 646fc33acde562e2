/**
 * An in-memory EventStoreDB for tests. Section numbers (§) refer to the team's EventStoreDB wire-protocol notes
 * (client 6.2.1 against server v24.10); docs/eventstoredb.md lists what is emulated.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb.js';
import type { StreamIdentifier } from '@eventstore/db-client/generated/shared_pb.js';
import type { ClusterInfo } from '@eventstore/db-client/generated/gossip_pb.js';
import type { SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb.js';
import type { IStreamsServer } from '@eventstore/db-client/generated/streams_grpc_pb.js';
import type { IGossipServer } from '@eventstore/db-client/generated/gossip_grpc_pb.js';
import type { IServerFeaturesServer } from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import {
  anyPb,
  codePb,
  emptyPb,
  gossipGrpc,
  gossipPb,
  serverFeaturesGrpc,
  serverFeaturesPb,
  sharedPb,
  statusPb,
  streamsGrpc,
  streamsPb,
} from './generated.js';
import {
  type AppendResult,
  type EventFilter,
  type ExpectedRevision,
  type ProposedEvent,
  type ReadFrom,
  type RecordedEvent,
  InMemoryLog,
  isVisibleInAll,
  NO_STREAM,
  TICKS_PER_MILLISECOND,
} from './in-memory-log.js';

export interface EsdbTestServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Interface to listen on; 127.0.0.1 by default. */
  host?: string;
  /** Start the log with a few `$` system events, as a real node has (default true). */
  seedSystemEvents?: boolean;
}

const SERVER_VERSION = '24.10.0';
/** The page size of a real server's filtered `$all` reads: the checkpoint window unless the client sets one (§4). */
const FILTER_WINDOW = 32;
/** How long stop() lets requests that are still arriving finish before dropping their connections. */
const STOP_GRACE_MS = 200;

/** Events like those a real node writes to `$` streams; DefaultAllFilter hides the first two (§7). */
const SYSTEM_EVENTS: ReadonlyArray<readonly [stream: string, type: string, data: object]> = [
  ['$epoch-information', '$epoch-information', { EpochNumber: 0, EpochPosition: 0, PrevEpochPosition: -1 }],
  ['$persistentsubscription-$all::seed-checkpoint', '$SubscriptionCheckpoint', { commit: 0, prepare: 0 }],
  ['$settings', '$settings', { $userStreamAcl: { $r: '$all', $w: '$all' }, $systemStreamAcl: { $r: '$admins' } }],
  ['$$$scavenges', '$metadata', { $maxAge: 2_592_000 }],
  ['$projections-$all', '$ProjectionsInitialized', {}],
];

type ReadCall = grpc.ServerWritableStream<ReadReq, ReadResp>;
type BatchAppendCall = grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>;

/**
 * An in-memory EventStoreDB 24.10 speaking the gRPC protocol of `@eventstore/db-client` 6.2.1, for
 * tests: appends (Append and BatchAppend), reads, catch-up subscriptions, server features and gossip.
 */
export class EsdbTestServer {
  private server = new grpc.Server();
  private log = new InMemoryLog();
  private boundPort = 0;
  /** Open catch-up subscriptions, each with what detaches it from the log. */
  private readonly subscriptions = new Map<ReadCall, () => void>();
  /** Open BatchAppend calls, which only their clients end (§2.3). */
  private readonly batchAppends = new Set<BatchAppendCall>();
  private readonly instanceId = randomUUID();

  private constructor(
    readonly host: string,
    private readonly seedSystemEvents: boolean,
  ) {
    this.seed();
  }

  static async start({ port = 0, host = '127.0.0.1', seedSystemEvents = true }: EsdbTestServerOptions = {}): Promise<EsdbTestServer> {
    const server = new EsdbTestServer(host, seedSystemEvents);
    await server.listen(port);
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionString(): string {
    const host = this.host === '0.0.0.0' ? '127.0.0.1' : this.host;
    return `esdb://${host}:${this.port}?tls=false`;
  }

  /**
   * Goes away at once: open calls (subscriptions, BatchAppend) end with UNAVAILABLE and connections
   * close; a request still being streamed in is cut off after STOP_GRACE_MS. The log is kept.
   */
  async stop(): Promise<void> {
    const details = 'Server is shutting down';
    this.endSubscriptions(details);
    for (const call of this.batchAppends) call.emit('error', { code: grpc.status.UNAVAILABLE, details });
    this.batchAppends.clear();
    const server = this.server;
    const cutOff = setTimeout(() => server.forceShutdown(), STOP_GRACE_MS);
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    clearTimeout(cutOff);
  }

  /** Stops, then listens again on the same port with the same log, e.g. to test reconnection. */
  async restart(): Promise<void> {
    await this.stop();
    this.server = new grpc.Server();
    await this.listen(this.port);
  }

  /** Forgets every event, as if the node were brand new; open subscriptions end with UNAVAILABLE. */
  reset(): void {
    this.endSubscriptions('Server was reset');
    this.log = new InMemoryLog();
    this.seed();
  }

  private seed(): void {
    if (!this.seedSystemEvents) return;
    for (const [stream, type, data] of SYSTEM_EVENTS) {
      this.log.append(stream, 'any', [
        { id: randomUUID(), type, isJson: true, data: Buffer.from(JSON.stringify(data)), customMetadata: new Uint8Array() },
      ]);
    }
  }

  private async listen(port: number): Promise<void> {
    const streams: Pick<IStreamsServer, 'read' | 'append' | 'batchAppend'> = {
      read: (call) => this.read(call),
      append: (call, callback) => this.append(call, callback),
      batchAppend: (call) => this.batchAppend(call),
    };
    const gossip: IGossipServer = { read: (call, callback) => callback(null, this.clusterInfo(call.getHost())) };
    const serverFeatures: IServerFeaturesServer = {
      getSupportedMethods: (_call, callback) => callback(null, supportedMethods()),
    };
    this.server.addService(streamsGrpc.StreamsService, streams);
    this.server.addService(gossipGrpc.GossipService, gossip);
    this.server.addService(serverFeaturesGrpc.ServerFeaturesService, serverFeatures);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${this.host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  }

  private endSubscriptions(details: string): void {
    for (const [call, detach] of this.subscriptions) {
      detach();
      call.emit('error', { code: grpc.status.UNAVAILABLE, details });
    }
    this.subscriptions.clear();
  }

  /** Delivers the log's appends to `call` through `onAppend` until the call ends (§4). */
  private keepSubscribed(call: ReadCall, onAppend: (appended: readonly RecordedEvent[]) => void): void {
    const detach = this.log.onAppend(onAppend);
    this.subscriptions.set(call, detach);
    call.on('cancelled', () => {
      detach();
      this.subscriptions.delete(call);
    });
  }

  // Streams.Append (§2.2): options first, then one message per event, then the client half-closes.
  private append(call: grpc.ServerReadableStream<AppendReq, AppendResp>, callback: grpc.sendUnaryData<AppendResp>): void {
    let options: AppendReq.Options | undefined;
    const events: ProposedEvent[] = [];
    call.on('data', (request: AppendReq) => {
      if (request.hasOptions()) options = request.getOptions();
      else events.push(toProposedEvent(request.getProposedMessage()!));
    });
    call.on('end', () => {
      if (!options) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'The first AppendReq must carry the options' });
        return;
      }
      const expected: ExpectedRevision = options.hasRevision()
        ? BigInt(options.getRevision())
        : options.hasNoStream() ? 'no_stream' : options.hasStreamExists() ? 'stream_exists' : 'any';
      const result = this.log.append(streamName(options.getStreamIdentifier()), expected, events);
      callback(null, appendResp(result, expected));
    });
  }

  // Streams.BatchAppend (§2.3): one long-lived call carrying many appends, each in chunks until is_final.
  private batchAppend(call: grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void {
    const pending = new Map<string, { options: BatchAppendReq.Options; events: ProposedEvent[] }>();
    this.batchAppends.add(call);
    call.on('cancelled', () => this.batchAppends.delete(call));
    call.on('data', (request: BatchAppendReq) => {
      const correlationId = request.getCorrelationId()!;
      const options = request.getOptions();
      if (options) pending.set(correlationId.getString(), { options, events: [] });
      const batch = pending.get(correlationId.getString());
      if (!batch) return; // chunks of a batch that never had options: the real server ignores them too
      batch.events.push(...request.getProposedMessagesList().map(toProposedEvent));
      if (!request.getIsFinal()) return;
      pending.delete(correlationId.getString());

      const expected: ExpectedRevision = batch.options.hasStreamPosition()
        ? BigInt(batch.options.getStreamPosition())
        : batch.options.hasNoStream() ? 'no_stream' : batch.options.hasStreamExists() ? 'stream_exists' : 'any';
      const streamIdentifier = batch.options.getStreamIdentifier()!;
      const result = this.log.append(streamName(streamIdentifier), expected, batch.events);
      call.write(batchAppendResp(result, expected).setCorrelationId(correlationId).setStreamIdentifier(streamIdentifier));
    });
    // Only the client ends this call (§2.3): an OK end would leave its pending appends hanging.
    call.on('end', () => {
      this.batchAppends.delete(call);
      call.end();
    });
  }

  // Streams.Read (§3): reads always end; with `subscription` it is a catch-up subscription (§4).
  private read(call: ReadCall): void {
    const options = call.request.getOptions()!;
    if (options.hasSubscription()) return this.subscribe(call, options);

    const direction = options.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.FORWARDS ? 'forwards' : 'backwards';
    const maxCount = Number(BigInt(options.getCount()));
    const stream = options.getStream();
    if (stream) {
      const from: ReadFrom = stream.hasStart() ? 'start' : stream.hasEnd() ? 'end' : BigInt(stream.getRevision());
      const events = this.log.readStream(streamName(stream.getStreamIdentifier()), from, direction, maxCount);
      if (events) for (const event of events) call.write(eventResp(event));
      else call.write(streamNotFoundResp(stream.getStreamIdentifier()!));
      call.end();
      return;
    }
    const from = this.allFrom(call, options.getAll()!);
    if (from === undefined) return;
    const filter = options.hasFilter() ? toEventFilter(options.getFilter()!) : isVisibleInAll;
    for (const event of this.log.readAll(from, direction, maxCount, filter)) call.write(eventResp(event));
    call.end();
  }

  /** Where an `$all` read or subscription starts; `undefined` after failing the call on a bad position (§3). */
  private allFrom(call: ReadCall, all: ReadReq.Options.AllOptions): ReadFrom | undefined {
    if (all.hasStart()) return 'start';
    if (all.hasEnd()) return 'end';
    const position = BigInt(all.getPosition()!.getCommitPosition());
    if (this.log.isValidPosition(position)) return position;
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'Invalid position.' });
    return undefined;
  }

  /**
   * §4: confirmation, then the history after the (exclusive) start, `caught_up`, and live events until
   * the client cancels. Filtered `$all` subscriptions also get checkpoints.
   */
  private subscribe(call: ReadCall, options: ReadReq.Options): void {
    const send = (message: ReadResp) => call.write(message);
    const stream = options.getStream();
    if (stream) {
      const name = streamName(stream.getStreamIdentifier());
      const history = this.log.streamEvents(name) ?? [];
      // The last revision the client has: events after it are delivered, in history or live.
      const after = stream.hasStart() ? NO_STREAM : stream.hasEnd() ? BigInt(history.length) - 1n : BigInt(stream.getRevision());
      send(confirmationResp());
      for (const event of history.slice(Number(after + 1n))) send(eventResp(event));
      send(caughtUpResp());
      // A missing stream just waits (§4.4).
      this.keepSubscribed(call, (appended) => {
        for (const event of appended) if (event.streamName === name && event.revision > after) send(eventResp(event));
      });
      return;
    }

    const from = this.allFrom(call, options.getAll()!);
    if (from === undefined) return;
    const lastEvent = this.log.events[this.log.events.length - 1];
    const after = from === 'start' ? -1n : from === 'end' ? (lastEvent?.position ?? -1n) : from;
    const filterOptions = options.hasFilter() ? options.getFilter()! : undefined;
    const isWanted = filterOptions ? toEventFilter(filterOptions) : isVisibleInAll;
    // Only filtered subscriptions get checkpoints: one every `interval` events considered, wanted or
    // not, at that event's position, during catch-up and live, and one just before caught_up.
    const interval = filterOptions
      ? filterOptions.getCheckpointintervalmultiplier() * (filterOptions.hasMax() ? filterOptions.getMax() : FILTER_WINDOW)
      : undefined;
    let lastCheckpoint: bigint | undefined;
    const checkpoint = (position: bigint) => {
      if (position !== lastCheckpoint) send(checkpointResp(position));
      lastCheckpoint = position;
    };
    const consider = (event: RecordedEvent, considered: number) => {
      if (isWanted(event)) send(eventResp(event));
      if (interval !== undefined && considered % interval === 0) checkpoint(event.position);
    };

    send(confirmationResp());
    const history = this.log.eventsAfter(after);
    history.forEach((event, index) => consider(event, index + 1));
    // Not when there was nothing to catch up on: the real server then goes live at once.
    if (interval !== undefined && history.length > 0) checkpoint(history[history.length - 1].position);
    send(caughtUpResp());

    let considered = 0; // the live count starts afresh (S SubscriptionsService.cs)
    this.keepSubscribed(call, (appended) => {
      // Events up to `after` can only be live if the client started beyond the end of the log.
      for (const event of appended) if (event.position > after) consider(event, ++considered);
    });
  }

  // Gossip.Read (§1): a one-node cluster whose leader is this server, as the client reached it.
  private clusterInfo(authority: string): ClusterInfo {
    const member = new gossipPb.MemberInfo()
      .setInstanceId(new sharedPb.UUID().setString(this.instanceId))
      .setTimeStamp((BigInt(Date.now()) * TICKS_PER_MILLISECOND).toString())
      .setState(gossipPb.MemberInfo.VNodeState.LEADER)
      .setIsAlive(true)
      .setHttpEndPoint(new gossipPb.EndPoint().setAddress(authority.replace(/:\d+$/, '')).setPort(this.port));
    return new gossipPb.ClusterInfo().setMembersList([member]);
  }
}

/** ServerFeatures.GetSupportedMethods (§1): the methods implemented here, lower-cased like a real node. */
function supportedMethods(): SupportedMethods {
  const { StreamsService } = streamsGrpc;
  const implemented = [
    StreamsService.read,
    StreamsService.append,
    StreamsService.batchAppend,
    gossipGrpc.GossipService.read,
    serverFeaturesGrpc.ServerFeaturesService.getSupportedMethods,
  ];
  return new serverFeaturesPb.SupportedMethods().setEventStoreServerVersion(SERVER_VERSION).setMethodsList(
    implemented.map(({ path }) => {
      const [, service, method] = path.split('/');
      return new serverFeaturesPb.SupportedMethod().setServiceName(service.toLowerCase()).setMethodName(method.toLowerCase());
    }),
  );
}

function streamName(identifier: StreamIdentifier | undefined): string {
  return Buffer.from(identifier!.getStreamName_asU8()).toString('utf8');
}

/** §5: the client always sends string ids and both `type` and `content-type`. */
function toProposedEvent(message: AppendReq.ProposedMessage | BatchAppendReq.ProposedMessage): ProposedEvent {
  const metadata = message.getMetadataMap();
  return {
    id: message.getId()!.getString(),
    type: metadata.get('type') ?? '',
    isJson: metadata.get('content-type') === 'application/json',
    data: message.getData_asU8(),
    customMetadata: message.getCustomMetadata_asU8(),
  };
}

/** Server filters run after DefaultAllFilter; a non-empty regex wins over prefixes (§7). */
function toEventFilter(options: ReadReq.Options.FilterOptions): EventFilter {
  const onType = options.hasEventType();
  const expression = (onType ? options.getEventType() : options.getStreamIdentifier())!;
  const regex = expression.getRegex() ? new RegExp(expression.getRegex()) : undefined;
  const prefixes = expression.getPrefixList();
  return (event) => {
    const subject = onType ? event.type : event.streamName;
    return isVisibleInAll(event) && (regex ? regex.test(subject) : prefixes.some((prefix) => subject.startsWith(prefix)));
  };
}

function eventResp(event: RecordedEvent): ReadResp {
  const position = event.position.toString();
  const recorded = new streamsPb.ReadResp.ReadEvent.RecordedEvent()
    .setId(new sharedPb.UUID().setString(event.id))
    .setStreamIdentifier(new sharedPb.StreamIdentifier().setStreamName(Buffer.from(event.streamName)))
    .setStreamRevision(event.revision.toString())
    .setCommitPosition(position)
    .setPreparePosition(position)
    .setCustomMetadata(event.customMetadata)
    .setData(event.data);
  recorded
    .getMetadataMap()
    .set('type', event.type)
    .set('content-type', event.isJson ? 'application/json' : 'application/octet-stream')
    .set('created', event.created.toString());
  return new streamsPb.ReadResp().setEvent(new streamsPb.ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(position));
}

function streamNotFoundResp(streamIdentifier: StreamIdentifier): ReadResp {
  return new streamsPb.ReadResp().setStreamNotFound(new streamsPb.ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier));
}

function confirmationResp(): ReadResp {
  return new streamsPb.ReadResp().setConfirmation(new streamsPb.ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID()));
}

function caughtUpResp(): ReadResp {
  return new streamsPb.ReadResp().setCaughtUp(new streamsPb.ReadResp.CaughtUp());
}

function checkpointResp(position: bigint): ReadResp {
  const checkpoint = new streamsPb.ReadResp.Checkpoint().setCommitPosition(position.toString()).setPreparePosition(position.toString());
  return new streamsPb.ReadResp().setCheckpoint(checkpoint);
}

/** §2.2: exactly one of success and wrong_expected_version (only the current, non-deprecated fields). */
function appendResp(result: AppendResult, expected: ExpectedRevision): AppendResp {
  const { AppendResp } = streamsPb;
  if (result.outcome === 'success') {
    const success = new AppendResp.Success();
    if (result.revision === NO_STREAM) success.setNoStream(new sharedPb.Empty());
    else success.setCurrentRevision(result.revision.toString());
    const position = result.position?.toString();
    if (position === undefined) success.setNoPosition(new sharedPb.Empty());
    else success.setPosition(new AppendResp.Position().setCommitPosition(position).setPreparePosition(position));
    return new AppendResp().setSuccess(success);
  }
  const wrong = new AppendResp.WrongExpectedVersion();
  if (result.currentRevision === NO_STREAM) wrong.setCurrentNoStream(new sharedPb.Empty());
  else wrong.setCurrentRevision(result.currentRevision.toString());
  if (typeof expected === 'bigint') wrong.setExpectedRevision(expected.toString());
  else if (expected === 'no_stream') wrong.setExpectedNoStream(new sharedPb.Empty());
  else if (expected === 'stream_exists') wrong.setExpectedStreamExists(new sharedPb.Empty());
  else wrong.setExpectedAny(new sharedPb.Empty());
  return new AppendResp().setWrongExpectedVersion(wrong);
}

/** §2.3: success, or a google.rpc.Status whose details pack an `event_store.client.WrongExpectedVersion`. */
function batchAppendResp(result: AppendResult, expected: ExpectedRevision): BatchAppendResp {
  const { BatchAppendResp } = streamsPb;
  if (result.outcome === 'success') {
    const success = new BatchAppendResp.Success();
    if (result.revision === NO_STREAM) success.setNoStream(new emptyPb.Empty());
    else success.setCurrentRevision(result.revision.toString());
    const position = result.position?.toString();
    if (position === undefined) success.setNoPosition(new emptyPb.Empty());
    else success.setPosition(new sharedPb.AllStreamPosition().setCommitPosition(position).setPreparePosition(position));
    return new BatchAppendResp().setSuccess(success);
  }
  const wrong = new sharedPb.WrongExpectedVersion();
  if (result.currentRevision === NO_STREAM) wrong.setCurrentNoStream(new emptyPb.Empty());
  else wrong.setCurrentStreamRevision(result.currentRevision.toString());
  if (typeof expected === 'bigint') wrong.setExpectedStreamPosition(expected.toString());
  else if (expected === 'no_stream') wrong.setExpectedNoStream(new emptyPb.Empty());
  else if (expected === 'stream_exists') wrong.setExpectedStreamExists(new emptyPb.Empty());
  else wrong.setExpectedAny(new emptyPb.Empty());
  const details = new anyPb.Any();
  details.pack(wrong.serializeBinary(), 'event_store.client.WrongExpectedVersion');
  // The client ignores the code; a real node sends ALREADY_EXISTS (§2.3).
  const error = new statusPb.Status().setCode(codePb.Code.ALREADY_EXISTS).setMessage('WrongExpectedVersion').setDetails(details);
  return new BatchAppendResp().setError(error);
}
