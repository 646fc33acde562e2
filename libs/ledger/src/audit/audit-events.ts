import {
  accountIdOfStream,
  creditAccountStream,
  occurredAtOf,
  type CreditAccountEvent,
  type CreditAccountEventType,
} from '#domain';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { comparePositions, StreamNotFoundError, type EventStore, type Position, type RecordedEvent } from '#event-store';
import { decodeEvent, decodeEventText } from '../events/event-codec.js';
import { csvDocument, type CsvValue } from './csv.js';

/**
 * The events as finance reads them: every event of an account, or of the whole ledger in global order,
 * exactly as stored (data as the ledger reads it, after any upcasting), with where it sits in the store.
 * Revisions and positions are 64-bit integers, so they travel as decimal strings: a JSON number would
 * lose their precision past 2^53.
 */
export interface AccountEventView {
  readonly revision: string;
  readonly position: string;
  readonly type: CreditAccountEventType;
  /** The business time of the event (what balances "as of" are about). */
  readonly occurredAt: string;
  readonly data: CreditAccountEvent['data'];
  readonly metadata: unknown;
  /** When the store recorded it; back-filled history has an `occurredAt` long before this. */
  readonly recordedAt: string;
}

export interface LedgerEventView extends AccountEventView {
  readonly streamId: string;
  readonly accountId: string;
}

export interface AccountEventsPage {
  readonly accountId: string;
  readonly events: readonly AccountEventView[];
  /** The `from` of the next page, or null when this page reached the end of the stream. */
  readonly next: string | null;
}

export interface LedgerEventsPage {
  readonly events: readonly LedgerEventView[];
  /** The `after` of the next page, or null when this page reached the end of the ledger (for now). */
  readonly next: { readonly after: string } | null;
}

/** Revisions and positions are unsigned 64-bit in EventStoreDB and signed 64-bit rowids in SQLite. */
export const MAX_STORE_INTEGER = (1n << 63n) - 1n;

/**
 * A position as text: `<commit>` when its commit and prepare parts are equal (always in SQLite), else
 * `<commit>:<prepare>` (EventStoreDB may give the events of one write a shared commit part), so a
 * cursor never loses the part that orders it.
 */
export function formatPosition(position: Position): string {
  return position.commit === position.prepare ? String(position.commit) : `${position.commit}:${position.prepare}`;
}

const POSITION_TEXT = /^(0|[1-9]\d{0,18})(?::(0|[1-9]\d{0,18}))?$/;

/** The inverse of `formatPosition`; undefined for anything it could not have written. */
export function parsePosition(text: string): Position | undefined {
  const match = POSITION_TEXT.exec(text);
  if (!match) return undefined;
  const commit = BigInt(match[1]!);
  const prepare = match[2] === undefined ? commit : BigInt(match[2]);
  if (commit > MAX_STORE_INTEGER || prepare > MAX_STORE_INTEGER) return undefined;
  return { commit, prepare };
}

function accountEventView(recorded: RecordedEvent, event: CreditAccountEvent): AccountEventView {
  return {
    revision: String(recorded.revision),
    position: formatPosition(recorded.position),
    type: event.type,
    occurredAt: occurredAtOf(event),
    data: event.data,
    metadata: recorded.metadata ?? null,
    recordedAt: recorded.created.toISOString(),
  };
}

/**
 * One page of an account's stream from revision `from` (inclusive). Undefined when the account has no
 * stream at all; a `from` past the end is an empty last page.
 */
export async function readAccountEvents(
  store: EventStore,
  accountId: string,
  page: { readonly from: bigint; readonly limit: number },
): Promise<AccountEventsPage | undefined> {
  const events: AccountEventView[] = [];
  let more = false;
  try {
    // One more than asked tells whether there is a next page without an extra read.
    for await (const recorded of store.readStream(creditAccountStream(accountId), {
      fromRevision: page.from,
      maxCount: page.limit + 1,
    })) {
      if (events.length === page.limit) {
        more = true;
        break;
      }
      events.push(accountEventView(recorded, decodeEvent(recorded)));
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
  const last = events[events.length - 1];
  return { accountId, events, next: more && last ? String(BigInt(last.revision) + 1n) : null };
}

/** A ledger event of `$all` with its decoded form; other streams a shared store may hold are not the ledger's. */
export interface LedgerRecord {
  readonly recorded: RecordedEvent;
  readonly accountId: string;
  readonly event: CreditAccountEvent;
}

/** The ledger's events in global order, strictly after `after` (from the start when undefined). */
export async function* ledgerEvents(store: EventStore, after?: Position): AsyncIterable<LedgerRecord> {
  // Forward reads of `$all` include their start; the cursor is exclusive, so its own event is skipped.
  for await (const recorded of store.readAll({ fromPosition: after ?? 'start' })) {
    if (after !== undefined && comparePositions(recorded.position, after) <= 0) continue;
    const accountId = accountIdOfStream(recorded.streamId);
    if (accountId === undefined) continue;
    yield { recorded, accountId, event: decodeEvent(recorded) };
  }
}

/** Events a page of `ledgerEventData` reads as text: about 10 ms of the request thread at a time. */
const TEXT_PAGE = 1_000;

/**
 * Every event of the ledger in global order, decoded, a page at a time, for folds that read only the
 * events' data (the liability and breakage). Where the store keeps events as text (`readAllText`) they are
 * read as a replay reads them, without their ids, creation times or decoded metadata, with a turn of the
 * event loop between pages; otherwise through `ledgerEvents`.
 */
export async function* ledgerEventData(store: EventStore): AsyncIterable<readonly CreditAccountEvent[]> {
  if (!store.readAllText) {
    let page: CreditAccountEvent[] = [];
    for await (const { event } of ledgerEvents(store)) {
      page.push(event);
      if (page.length === TEXT_PAGE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
    return;
  }
  for (let after = -1n, first = true; ; first = false) {
    if (!first) await yieldToEventLoop();
    const rows = await store.readAllText(after, TEXT_PAGE);
    const page: CreditAccountEvent[] = [];
    for (const row of rows) if (accountIdOfStream(row.streamId) !== undefined) page.push(decodeEventText(row));
    if (page.length > 0) yield page;
    if (rows.length < TEXT_PAGE) return;
    after = rows[rows.length - 1]!.position;
  }
}

export async function readLedgerEvents(
  store: EventStore,
  page: { readonly after?: Position; readonly limit: number },
): Promise<LedgerEventsPage> {
  const events: LedgerEventView[] = [];
  let more = false;
  for await (const { recorded, accountId, event } of ledgerEvents(store, page.after)) {
    if (events.length === page.limit) {
      more = true;
      break;
    }
    events.push({ ...accountEventView(recorded, event), streamId: recorded.streamId, accountId });
  }
  const last = events[events.length - 1];
  return { events, next: more && last ? { after: last.position } : null };
}

export const LEDGER_EVENTS_CSV_HEADER = [
  'position',
  'stream',
  'account',
  'revision',
  'type',
  'occurred_at',
  'credit_type',
  'credits',
  'data_json',
] as const;

/**
 * The credits an event moved, unsigned, as stored; blank for events that moved none (a reveal served
 * free, a webhook not triggered), whose data_json says what happened.
 */
function creditsOf(event: LedgerEventView): { creditType: CsvValue; credits: CsvValue } {
  const data = event.data as { creditType?: unknown; credits?: unknown };
  if (typeof data.credits !== 'number' || typeof data.creditType !== 'string') return { creditType: null, credits: null };
  return { creditType: data.creditType, credits: data.credits };
}

export function ledgerEventsCsv(events: readonly LedgerEventView[]): string {
  return csvDocument(
    LEDGER_EVENTS_CSV_HEADER,
    events.map((event) => {
      const { creditType, credits } = creditsOf(event);
      return [
        event.position,
        event.streamId,
        event.accountId,
        event.revision,
        event.type,
        event.occurredAt,
        creditType,
        credits,
        JSON.stringify(event.data),
      ];
    }),
  );
}

/** One JSON object per line (NDJSON): each line stands alone, so a consumer can stream it. */
export function ledgerEventsNdjson(events: readonly LedgerEventView[]): string {
  return events.map((event) => `${JSON.stringify(event)}\n`).join('');
}
