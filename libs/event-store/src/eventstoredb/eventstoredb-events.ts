import {
  jsonEvent,
  type AllStreamRecordedEvent,
  type EventData,
  type JSONType,
  type RecordedEvent as ClientRecordedEvent,
} from '@eventstore/db-client';
import { assertExpectedEventId, type AppendRequest, type EventMetadata, type NewEvent, type RecordedEvent } from '../event-store.port.js';

const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface PreparedAppend {
  readonly request: AppendRequest;
  readonly events: readonly EventData[];
}

/**
 * Streams whose id starts with `$` are EventStoreDB's own (`$settings`, `$$<stream>` metadata, `$ce-…`
 * links, `$projections-…`, `$scavenges`…). The port's `$all` is the application's events only, so they
 * are hidden from every read of `$all`, and the application may not write to them.
 */
export function isSystemStream(streamId: string): boolean {
  return streamId.startsWith('$');
}

/**
 * Checks a request completely before anything is sent. This is not only for clearer errors: the client
 * serializes events inside an `async` promise executor, so data that `JSON.stringify` rejects (a bigint, a
 * cycle) or cannot represent (`undefined`) would become an unhandled rejection and an append that never
 * settles.
 */
export function prepareAppend(request: AppendRequest): PreparedAppend {
  const { streamId, expectedRevision, events } = request;
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw new TypeError('An append needs a non-empty stream id');
  }
  if (isSystemStream(streamId)) {
    throw new TypeError(`Stream ${streamId} is an EventStoreDB system stream; the application cannot append to it`);
  }
  if (typeof expectedRevision === 'bigint' && expectedRevision < 0n) {
    throw new RangeError(`Expected revision of ${streamId} must not be negative, got ${expectedRevision}`);
  }
  if (
    typeof expectedRevision !== 'bigint' &&
    expectedRevision !== 'any' &&
    expectedRevision !== 'no_stream' &&
    expectedRevision !== 'stream_exists'
  ) {
    throw new TypeError(`Unknown expected revision ${String(expectedRevision)} for ${streamId}`);
  }
  assertExpectedEventId(request);
  return { request, events: events.map(toEventData) };
}

function toEventData(event: NewEvent): EventData {
  if (typeof event.id !== 'string' || !LOWERCASE_UUID.test(event.id)) {
    throw new TypeError(`Event id ${String(event.id)} is not a lowercase UUID`);
  }
  if (typeof event.type !== 'string' || event.type.length === 0) {
    throw new TypeError(`Event ${event.id} needs a type`);
  }
  // `$`-types are the server's (`$>` links, `$metadata`…); a subscription without a prefix filter asks the
  // server to exclude them, so an application event with such a type would never reach a projection.
  if (event.type.startsWith('$')) {
    throw new TypeError(`Event ${event.id} has type ${event.type}: types starting with $ are EventStoreDB's`);
  }
  if (JSON.stringify(event.data) === undefined) {
    throw new TypeError(`Event ${event.id} (${event.type}) has no JSON data`);
  }
  const { metadata } = event;
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new TypeError(`Metadata of event ${event.id} (${event.type}) must be an object`);
    }
    JSON.stringify(metadata);
  }
  // The client writes `content-type: application/json` and the UTF-8 of `JSON.stringify(data)`; the server
  // then marks the event as JSON, and the client parses it back on reads.
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: event.data as JSONType,
    ...(metadata === undefined ? {} : { metadata }),
  });
}

export function toRecordedEvent(event: ClientRecordedEvent | AllStreamRecordedEvent): RecordedEvent {
  const { position } = event;
  // Servers before 22.6 do not send positions with stream reads; the port cannot do without them.
  if (position === undefined) {
    throw new Error(
      `EventStoreDB returned event ${event.id} of ${event.streamId} without a log position (server older than 22.6?)`,
    );
  }
  return {
    id: event.id,
    streamId: event.streamId,
    revision: event.revision,
    position: { commit: position.commit, prepare: position.prepare },
    type: event.type,
    data: event.data,
    metadata: toMetadata(event.metadata),
    created: event.created,
  };
}

/**
 * This adapter only writes JSON objects as metadata, and no metadata at all when there is none (the client
 * then reads back `undefined`). Anything else (bytes that are not JSON, a JSON array or scalar) was written
 * by another tool and means nothing to the ledger, so it is not passed on as if it were metadata.
 */
function toMetadata(metadata: unknown): EventMetadata | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  // `isView`, not `instanceof Uint8Array`: the bytes may come from another realm (jest's VM contexts).
  if (Array.isArray(metadata) || ArrayBuffer.isView(metadata)) return undefined;
  return metadata as EventMetadata;
}
