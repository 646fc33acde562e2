import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { evictWithSecondChance, type SecondChance } from '../caching/second-chance-eviction.js';
import { applyToDocs, type ProjectedEvent, type Projection, type StoredDoc } from './projection.js';
import type { WriteTurns } from './write-turns.js';

export const READ_MODELS = Symbol('READ_MODELS');

interface ActiveState {
  readonly table: string;
  readonly version: number;
  /** The last event applied, or -1n when none. */
  readonly position: bigint;
}

interface DocRow {
  readonly doc: string;
  readonly position: bigint;
  /** In the tables of projections with an index. */
  readonly indexed?: bigint | null;
}

/**
 * A document as the engine holds it, with the index value its row holds: `null` for none, `undefined`
 * when there is no row yet (or the projection has no index). Updated in place when the document is
 * written again: a new one for every write outlived a collection of the young generation and was copied.
 */
interface HeldDoc<Doc> extends SecondChance {
  doc: Doc;
  position: bigint;
  indexed: number | null | undefined;
}

type AnyProjection = Projection<unknown>;

/**
 * Read models in SQLite: one table of JSON documents per projection, and one row per projection naming
 * its active table and the position of the last event applied to it. A batch of events and the new
 * position are written in one transaction, so a crash never skips or double-applies an event. Read
 * models can always be rebuilt from the events, so the file runs with `synchronous = NORMAL`.
 */
export class SqliteReadModelStore {
  private readonly statements = new Map<string, ReturnType<SqliteReadModelStore['prepareTable']>>();
  private readonly stateOf;
  private readonly allStates;
  private readonly setState;
  private readonly dataVersion;
  /**
   * The documents the engine last wrote (table → key → document), so that following the store does not
   * read back and parse a document for every event. Valid only while no other connection has written the
   * file (`PRAGMA data_version` says so) and emptied when a batch fails.
   */
  private readonly liveDocs = new Map<string, Map<string, HeldDoc<unknown>>>();
  /** Documents in `liveDocs`, all tables together. */
  private liveCount = 0;
  private liveDataVersion: bigint | undefined;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly maxLiveDocs: number,
  ) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.defaultSafeIntegers(true);
    db.exec(`CREATE TABLE IF NOT EXISTS projection_state (
      name TEXT PRIMARY KEY, table_name TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL)`);
    this.stateOf = db.prepare<[string], { table_name: string; version: bigint; position: bigint }>(
      'SELECT table_name, version, position FROM projection_state WHERE name = ?',
    );
    this.allStates = db.prepare<[], { name: string; table_name: string; version: bigint; position: bigint }>(
      'SELECT name, table_name, version, position FROM projection_state',
    );
    this.setState = db.prepare<[string, string, number, bigint]>(
      `INSERT INTO projection_state (name, table_name, version, position) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET table_name = excluded.table_name, version = excluded.version, position = excluded.position`,
    );
    this.dataVersion = db.prepare<[], bigint>('PRAGMA data_version').pluck();
  }

  /** `maxLiveDocs`: documents the engine keeps parsed between batches (0: none). */
  static open(file: string, options: { readonly maxLiveDocs?: number } = {}): SqliteReadModelStore {
    return new SqliteReadModelStore(new BetterSqlite3(file), options.maxLiveDocs ?? 50_000);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The file this store was opened on. */
  get file(): string {
    return this.db.name;
  }

  /**
   * Makes sure the projection has a table of its current version. A new projection or a new version
   * starts empty, from before the first event; the old version's table is dropped.
   */
  ensure(projection: AnyProjection): ActiveState {
    const current = this.active(projection.name);
    if (current && current.version === projection.version) return current;
    const table = this.createTable(projection);
    this.db.transaction(() => {
      this.setState.run(projection.name, table, projection.version, -1n);
      if (current) this.db.exec(`DROP TABLE IF EXISTS "${current.table}"`);
    }).immediate();
    return { table, version: projection.version, position: -1n };
  }

  active(name: string): ActiveState | undefined {
    const row = this.stateOf.get(name);
    return row ? { table: row.table_name, version: Number(row.version), position: row.position } : undefined;
  }

  /** Every projection's active table and position, in one read. */
  states(): Map<string, ActiveState> {
    const states = new Map<string, ActiveState>();
    for (const row of this.allStates.all()) {
      states.set(row.name, { table: row.table_name, version: Number(row.version), position: row.position });
    }
    return states;
  }

  get<Doc>(projection: string, key: string): StoredDoc<Doc> | undefined {
    const state = this.active(projection);
    if (!state) return undefined;
    return toStored<Doc>(this.statementsFor(state.table).get.get(key));
  }

  /**
   * The documents of one group of a projection's index (`Projection.indexOf`) whose value is in `range`,
   * in order of value then key, at most `limit` of them: after `after` (the last one of the previous page),
   * or from the lowest value.
   */
  indexed(projection: string, range: IndexRange, limit: number, after?: IndexedKey): IndexedKey[] {
    const index = this.indexStatements(projection);
    if (!index) return [];
    return index.keysIn.all(...indexArguments(range, limit, after)).map((row) => ({ key: row.key, indexed: Number(row.indexed) }));
  }

  /** `indexed` with the documents. */
  indexedDocs<Doc>(projection: string, range: IndexRange, limit: number, after?: IndexedKey): (IndexedKey & { doc: Doc })[] {
    const index = this.indexStatements(projection);
    if (!index) return [];
    return index.docsIn
      .all(...indexArguments(range, limit, after))
      .map((row) => ({ key: row.key, indexed: Number(row.indexed), doc: JSON.parse(row.doc) as Doc }));
  }

  /** The statements of a projection's index; undefined before its table exists. */
  private indexStatements(projection: string) {
    const state = this.active(projection);
    if (!state) return undefined;
    const { indexed } = this.statementsFor(state.table);
    if (!indexed) throw new Error(`the read model ${projection} has no index`);
    return indexed;
  }

  /** Documents with `from <= key < to`, in key order; the first `limit` of them, if given. */
  range<Doc>(projection: string, from: string, to: string, limit?: number): { key: string; doc: Doc }[] {
    const state = this.active(projection);
    if (!state) return [];
    return this.statementsFor(state.table)
      .range.all(from, to, limit ?? -1)
      .map((row) => ({ key: row.key, doc: JSON.parse(row.doc) as Doc }));
  }

  /**
   * Applies a batch to every projection in one transaction, with each one's new position, and returns
   * the positions. With `expected` (the positions the caller followed from), a projection whose stored
   * position is not the expected one (a rebuilt table was swapped in meanwhile) makes it write nothing
   * and return undefined.
   *
   * The events are taken one at a time through every projection, so `events` may decode each only when
   * it is reached: an event is then garbage once folded. Held for the whole batch (20,000 events under
   * load), every young-generation collection in the batch copied them, and the next promoted them.
   */
  applyBatch(
    projections: readonly AnyProjection[],
    events: Iterable<ProjectedEvent>,
    expected?: ReadonlyMap<string, bigint>,
  ): Map<string, bigint> | undefined {
    try {
      const reached = this.db.transaction(() => {
        // Another connection (a replay, another instance) wrote since this one's last batch.
        if (this.dataVersion.get() !== this.liveDataVersion) this.forgetLiveDocs();
        const states = this.states();
        if (expected && projections.some((p) => (states.get(p.name)?.position ?? -1n) !== expected.get(p.name))) return undefined;
        const tables = projections.map((projection) => states.get(projection.name) ?? this.ensure(projection));
        const folds = projections.map((projection, i) => new BatchFold(projection, this.statementsFor(tables[i]!.table), this.liveDocsOf(tables[i]!.table), tables[i]!.position));
        let last = -1n;
        for (const event of events) {
          last = event.position;
          for (const fold of folds) fold.add(event);
        }
        const reached = new Map<string, bigint>();
        projections.forEach((projection, i) => {
          const { table, position } = tables[i]!;
          this.liveCount += folds[i]!.write(this.maxLiveDocs > 0);
          if (last > position) this.setState.run(projection.name, table, projection.version, last);
          reached.set(projection.name, last > position ? last : position);
        });
        this.evictLiveDocs();
        return reached;
      }).immediate();
      this.liveDataVersion = this.dataVersion.get();
      return reached;
    } catch (error) {
      // The documents in memory were folded for a batch that was not stored.
      this.forgetLiveDocs();
      this.liveDataVersion = undefined;
      throw error;
    }
  }

  /**
   * Rebuilds projections from history into fresh tables while the active ones keep serving, then swaps
   * them all atomically (see `Rebuild`). `history` is read until it ends; `catchUp` is asked for what was
   * appended since, until nothing is left.
   */
  async rebuild(
    projections: readonly AnyProjection[],
    history: AsyncIterable<readonly ProjectedEvent[]>,
    catchUp: (after: bigint) => Promise<readonly ProjectedEvent[]>,
    onBatch: (applied: number, position: bigint) => void = () => undefined,
    options: RebuildOptions = {},
  ): Promise<{ events: number; position: bigint }> {
    const rebuild = this.beginRebuild(projections, options);
    for await (const batch of history) rebuild.add(batch, onBatch);
    return rebuild.finish(catchUp, onBatch);
  }

  /** A rebuild into fresh tables, for callers that feed it in their own way (see `rebuild`). */
  beginRebuild(projections: readonly AnyProjection[], options: RebuildOptions = {}): Rebuild {
    const suffix = `_${Date.now().toString(36)}`;
    return this.continueRebuild(projections, projections.map((projection) => this.createTable(projection, suffix)), options);
  }

  /** Another connection's share of a rebuild whose fresh tables exist already (a parallel replay's worker). */
  continueRebuild(projections: readonly AnyProjection[], tables: readonly string[], options: RebuildOptions = {}): Rebuild {
    const caches = projections.map((projection, i) => new RebuildCache(projection, this.statementsFor(tables[i]!), options.accountByAccount ?? false));
    return new Rebuild(this.db, projections, caches, options.maxCachedDocs ?? 250_000, (name) => this.active(name), this.setState, options.writeTurns);
  }

  /**
   * Every document of a projection, in key order (for verification), with the value its row holds in
   * the projection's index (`null` for none; `undefined` when the projection has no index).
   */
  *entries<Doc>(projection: string): Generator<{ key: string; doc: Doc; position: bigint; indexed: number | null | undefined }> {
    const state = this.active(projection);
    if (!state) return;
    const hasIndex = this.statementsFor(state.table).indexed !== undefined;
    const rows = this.db
      .prepare<[], DocRow & { key: string }>(`SELECT key, doc, position${hasIndex ? ', indexed' : ''} FROM "${state.table}" ORDER BY key`)
      .iterate();
    for (const row of rows) yield { key: row.key, doc: JSON.parse(row.doc) as Doc, position: row.position, indexed: indexedIn(row) };
  }

  /**
   * Reads a projection's documents by key from the table active now, as stored (JSON text), with the
   * value the row holds in the index as `entries` gives it; undefined when the projection has no table yet.
   */
  lookup(projection: string): ((key: string) => { docText: string; position: bigint; indexed: number | null | undefined } | undefined) | undefined {
    const state = this.active(projection);
    if (!state) return undefined;
    const { get } = this.statementsFor(state.table);
    return (key) => {
      const row = get.get(key);
      return row && { docText: row.doc, position: row.position, indexed: indexedIn(row) };
    };
  }

  /** Every key of a projection's documents, in key order. */
  *keys(projection: string): Generator<string> {
    const state = this.active(projection);
    if (!state) return;
    yield* this.db.prepare<[], string>(`SELECT key FROM "${state.table}" ORDER BY key`).pluck().iterate();
  }

  private liveDocsOf(table: string): Map<string, HeldDoc<unknown>> {
    let live = this.liveDocs.get(table);
    if (!live) this.liveDocs.set(table, (live = new Map()));
    return live;
  }

  /**
   * Evicts documents held beyond `maxLiveDocs`, each table its share, oldest first, sparing once those
   * written since the sweep last passed them (CLOCK): a document written again is updated where it is.
   */
  private evictLiveDocs(): void {
    const excess = this.liveCount - this.maxLiveDocs;
    if (excess <= 0) return;
    const total = this.liveCount;
    for (const docs of this.liveDocs.values()) {
      const share = Math.ceil((excess * docs.size) / total);
      this.liveCount -= evictWithSecondChance(docs, (removed) => removed === share);
    }
  }

  private forgetLiveDocs(): void {
    this.liveDocs.clear();
    this.liveCount = 0;
  }

  private createTable(projection: AnyProjection, suffix = ''): string {
    // A table of this name may have existed: what was kept of it is gone with it.
    this.forgetLiveDocs();
    const table = `rm_${projection.name.replace(/[^a-z0-9_]/gi, '_')}_v${projection.version}${suffix}`;
    this.db.exec(`DROP TABLE IF EXISTS "${table}"`);
    if (projection.indexOf) {
      this.db.exec(`CREATE TABLE "${table}" (key TEXT PRIMARY KEY, position INTEGER NOT NULL, doc TEXT NOT NULL,
        indexed INTEGER, index_group TEXT NOT NULL DEFAULT '') WITHOUT ROWID`);
      this.db.exec(`CREATE INDEX "${table}_indexed" ON "${table}" (index_group, indexed) WHERE indexed IS NOT NULL`);
    } else {
      this.db.exec(`CREATE TABLE "${table}" (key TEXT PRIMARY KEY, position INTEGER NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID`);
    }
    return table;
  }

  private statementsFor(table: string) {
    let statements = this.statements.get(table);
    if (!statements) {
      statements = this.prepareTable(table);
      this.statements.set(table, statements);
    }
    return statements;
  }

  private prepareTable(table: string) {
    const hasIndex = (this.db.pragma(`table_info("${table}")`) as { name: string }[]).some((column) => column.name === 'indexed');
    return {
      table,
      get: this.db.prepare<[string], DocRow>(`SELECT doc, position${hasIndex ? ', indexed' : ''} FROM "${table}" WHERE key = ?`),
      // A negative limit is none.
      range: this.db.prepare<[string, string, number], { key: string; doc: string }>(
        `SELECT key, doc FROM "${table}" WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`,
      ),
      put: this.db.prepare<[string, bigint, string]>(
        `INSERT INTO "${table}" (key, position, doc) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET position = excluded.position, doc = excluded.doc`,
      ),
      remove: this.db.prepare<[string]>(`DELETE FROM "${table}" WHERE key = ?`),
      indexed: hasIndex
        ? {
            // A row's index entry is rewritten whenever the column is in the SET list, changed or not: that
            // cost 1-2 µs a write, and most writes (a charge that leaves a lot some credits) do not change it.
            // The group is a function of the key: written with the row, never changed.
            put: this.db.prepare<[string, bigint, string, number | null, string]>(
              `INSERT INTO "${table}" (key, position, doc, indexed, index_group) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET position = excluded.position, doc = excluded.doc, indexed = excluded.indexed`,
            ),
            putKeepingIndex: this.db.prepare<[string, bigint, string, number | null, string]>(
              `INSERT INTO "${table}" (key, position, doc, indexed, index_group) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET position = excluded.position, doc = excluded.doc`,
            ),
            keysIn: this.db.prepare<IndexArguments, { key: string; indexed: bigint }>(
              `SELECT key, indexed FROM "${table}" WHERE index_group = ? AND indexed > ? AND indexed <= ? AND (indexed, key) > (?, ?)
               ORDER BY indexed, key LIMIT ?`,
            ),
            docsIn: this.db.prepare<IndexArguments, { key: string; indexed: bigint; doc: string }>(
              `SELECT key, indexed, doc FROM "${table}" WHERE index_group = ? AND indexed > ? AND indexed <= ? AND (indexed, key) > (?, ?)
               ORDER BY indexed, key LIMIT ?`,
            ),
          }
        : undefined,
    };
  }
}

/** A document's place in its projection's index (see `SqliteReadModelStore.indexed`). */
export interface IndexedKey {
  readonly key: string;
  readonly indexed: number;
}

/** Values `above < value <= upTo` of one group of an index (`''`, the default, for an index without groups). */
export interface IndexRange {
  readonly group?: string;
  readonly above?: number;
  readonly upTo?: number;
}

type IndexArguments = [group: string, above: number, upTo: number, afterValue: number, afterKey: string, limit: number];

function indexArguments(range: IndexRange, limit: number, after: IndexedKey | undefined): IndexArguments {
  return [
    range.group ?? '',
    range.above ?? Number.MIN_SAFE_INTEGER,
    range.upTo ?? Number.MAX_SAFE_INTEGER,
    after?.indexed ?? Number.MIN_SAFE_INTEGER,
    after?.key ?? '',
    limit,
  ];
}

/**
 * Every entry of a paged read of an index, `pageSize` at a time from the lowest value, with a turn of the
 * event loop between pages: the thread that reads also answers requests.
 */
export async function readAllPages<Entry extends IndexedKey>(readPage: (limit: number, after?: IndexedKey) => Entry[], pageSize = 1_000): Promise<Entry[]> {
  const entries: Entry[] = [];
  let after: IndexedKey | undefined;
  for (;;) {
    const page = readPage(pageSize, after);
    for (const entry of page) entries.push(entry);
    if (page.length < pageSize) return entries;
    after = page[page.length - 1];
    await yieldToEventLoop();
  }
}

/**
 * The documents of `readModels.range(projection, from, to)`, `pageSize` at a time in key order, with a
 * turn of the event loop between pages: a busy account's year of usage is 35,000 documents, and the
 * thread that reads them also answers requests. Each page is read as the table stands when it is read.
 */
export async function* rangeInPages<Doc>(
  readModels: SqliteReadModelStore,
  projection: string,
  from: string,
  to: string,
  pageSize = 1_000,
): AsyncGenerator<readonly { key: string; doc: Doc }[]> {
  let next = from;
  for (;;) {
    const page = readModels.range<Doc>(projection, next, to, pageSize);
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    // The smallest key after the last one read.
    next = `${page[page.length - 1]!.key}\u0000`;
    await yieldToEventLoop();
  }
}

/**
 * One projection's share of a batch: the documents its events changed, folded in place (if the batch
 * fails, every document held is forgotten), then written.
 */
class BatchFold {
  private readonly docs = new Map<string, StoredDoc<unknown> | undefined>();
  /** What the rows of the loaded documents hold in the index (folding in place loses it). */
  private readonly indexedInRows: Map<string, number | null | undefined> | undefined;
  private readonly load: (key: string) => StoredDoc<unknown> | undefined;

  constructor(
    private readonly projection: AnyProjection,
    private readonly statements: TableStatements,
    private readonly held: Map<string, HeldDoc<unknown>>,
    private readonly after: bigint,
  ) {
    const indexedInRows = (this.indexedInRows = projection.indexOf ? new Map() : undefined);
    this.load = (key) => {
      const kept = held.get(key);
      if (kept) {
        indexedInRows?.set(key, kept.indexed);
        return kept;
      }
      const row = statements.get.get(key);
      if (row) indexedInRows?.set(key, indexedIn(row));
      return toStored<unknown>(row);
    };
  }

  add(event: ProjectedEvent): void {
    if (event.position > this.after) applyToDocs(this.projection, this.docs, event, this.load);
  }

  /** Writes the documents; keeps them in memory when `keep`. Returns how many more are held. */
  write(keep: boolean): number {
    const { statements, projection, held } = this;
    let added = 0;
    for (const [key, stored] of this.docs) {
      if (stored === undefined) {
        statements.remove.run(key);
        if (held.delete(key)) added -= 1;
        continue;
      }
      const indexed = writeDoc(statements, projection, key, stored.position, stored.doc, this.indexedInRows?.get(key));
      const kept = held.get(key);
      if (kept) {
        kept.doc = stored.doc;
        kept.position = stored.position;
        kept.indexed = indexed;
        kept.used = true;
      } else if (keep) {
        held.set(key, { doc: stored.doc, position: stored.position, indexed, used: false });
        added += 1;
      }
    }
    return added;
  }
}

function toStored<Doc>(row: DocRow | undefined): StoredDoc<Doc> | undefined {
  return row ? { doc: JSON.parse(row.doc) as Doc, position: row.position } : undefined;
}

function indexedIn(row: DocRow): number | null | undefined {
  return row.indexed === undefined ? undefined : row.indexed === null ? null : Number(row.indexed);
}

/**
 * Writes a document, and its index value when its projection has an index; `inRow` is what its row holds
 * in the index (`undefined` when there is no row). Returns what the row holds now.
 */
function writeDoc(statements: TableStatements, projection: AnyProjection, key: string, position: bigint, doc: unknown, inRow: number | null | undefined): number | null | undefined {
  const json = JSON.stringify(doc);
  if (!projection.indexOf) {
    statements.put.run(key, position, json);
    return undefined;
  }
  if (!statements.indexed) throw new Error(`the projection ${projection.name} has an index its table lacks: it needs a new version`);
  const indexed = projection.indexOf(doc) ?? null;
  const group = projection.indexGroupOf?.(key) ?? '';
  if (indexed === inRow) statements.indexed.putKeepingIndex.run(key, position, json, indexed, group);
  else statements.indexed.put.run(key, position, json, indexed, group);
  return indexed;
}

type TableStatements = ReturnType<SqliteReadModelStore['prepareTable']>;

export interface RebuildOptions {
  /** Documents kept in memory (all projections) before the changed ones are written and the cache emptied. */
  readonly maxCachedDocs?: number;
  /**
   * Shared by the threads of a parallel rebuild: one writes at a time. A thread whose cache is full while
   * another writes folds on, up to twice `maxCachedDocs`, before it waits for its turn.
   */
  readonly writeTurns?: WriteTurns;
  /**
   * The events come account by account, each account's in order, and each account's documents are its
   * own: once the events of the next account arrive, the documents of the ones before are final. Emptying
   * the cache then keeps only the current account's documents, and a document not in the cache is a new
   * one, never read back from the table. Without it, a document missing from the cache once it has been
   * emptied is looked for in the table (written, evicted, then changed again by a later event).
   */
  readonly accountByAccount?: boolean;
}

/**
 * Rebuilds projections into fresh tables while the active ones keep serving, then swaps them all
 * atomically (`finish`).
 *
 * Documents stay in memory across batches and are folded in place; each is written once when the cache
 * outgrows `maxCachedDocs` (then the cache starts again empty) and at the end. The fresh tables are
 * nobody's until the swap, so they need no checkpoint before it, and writing them in several
 * transactions only keeps the write lock short for a ledger serving at the same time (or for the other
 * threads of a parallel rebuild).
 */
export class Rebuild {
  private position = -1n;
  private events = 0;

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly projections: readonly AnyProjection[],
    private readonly caches: readonly RebuildCache[],
    private readonly maxCachedDocs: number,
    private readonly active: (name: string) => ActiveState | undefined,
    private readonly setState: BetterSqlite3.Statement<[string, string, number, bigint]>,
    private readonly turns: WriteTurns | undefined,
  ) {}

  get tables(): readonly string[] {
    return this.caches.map((cache) => cache.table);
  }

  add(batch: readonly ProjectedEvent[], onBatch: (applied: number, position: bigint) => void = () => undefined): void {
    if (batch.length === 0) return;
    for (const cache of this.caches) cache.fold(batch);
    this.position = batch[batch.length - 1]!.position;
    this.events += batch.length;
    onBatch(this.events, this.position);
    const cached = this.caches.reduce((sum, cache) => sum + cache.size, 0);
    if (cached <= this.maxCachedDocs) return;
    if (this.turns === undefined || cached > 2 * this.maxCachedDocs) this.flush(true);
    else if (this.turns.tryTake()) this.writeDocs(true);
  }

  /** Writes every changed document (in its turn, if it shares the file with other threads). */
  flush(evict = false): void {
    this.turns?.take();
    this.writeDocs(evict);
  }

  /** With the turn taken, if there are turns; gives it back. */
  private writeDocs(evict: boolean): void {
    try {
      for (const cache of this.caches) {
        for (const chunk of cache.flush(evict)) this.db.transaction(chunk).immediate();
      }
    } finally {
      this.turns?.give();
    }
  }

  /**
   * Other connections folded and wrote every event up to `position` into the tables: documents are read
   * from there from now on.
   */
  writtenElsewhere(events: number, position: bigint): void {
    this.flush(true);
    this.events += events;
    if (position > this.position) this.position = position;
  }

  /**
   * Applies what `catchUp` finds after the history, until it finds nothing, then swaps the fresh tables
   * in. The engine of a running ledger notices the new checkpoints and follows on from them.
   */
  async finish(
    catchUp: (after: bigint) => Promise<readonly ProjectedEvent[]>,
    onBatch: (applied: number, position: bigint) => void = () => undefined,
  ): Promise<{ events: number; position: bigint }> {
    this.flush();
    for (;;) {
      const batch = await catchUp(this.position);
      if (batch.length === 0) break;
      this.add(batch, onBatch);
      this.flush();
    }
    this.db.transaction(() => {
      this.projections.forEach((projection, i) => {
        const previous = this.active(projection.name);
        this.setState.run(projection.name, this.caches[i]!.table, projection.version, this.position);
        if (previous && previous.table !== this.caches[i]!.table) this.db.exec(`DROP TABLE IF EXISTS "${previous.table}"`);
      });
    }).immediate();
    return { events: this.events, position: this.position };
  }
}

interface CachedDoc {
  doc: unknown;
  position: bigint;
  /** The account of the events folded into it. */
  readonly accountId: string;
  dirty: boolean;
  /** What the document's row holds in the projection's index (`undefined`: no row yet). */
  indexed: number | null | undefined;
}

/** Rows written per transaction when a rebuild writes its documents. */
const FLUSH_CHUNK = 20_000;

/** One projection's documents during a rebuild: folded in place in memory, written when flushed. */
class RebuildCache {
  private docs = new Map<string, CachedDoc>();
  /** Until the first eviction every document is in memory, so a miss is a new document, not a read. */
  private evicted = false;
  /** The account of the last event folded (for a cache fed account by account). */
  private currentAccount: string | undefined;
  private readonly evolve: NonNullable<AnyProjection['evolveInPlace']>;

  constructor(
    private readonly projection: AnyProjection,
    private readonly statements: TableStatements,
    private readonly accountByAccount: boolean,
  ) {
    this.evolve = (projection.evolveInPlace ?? projection.evolve).bind(projection);
  }

  get table(): string {
    return this.statements.table;
  }

  get size(): number {
    return this.docs.size;
  }

  fold(events: readonly ProjectedEvent[]): void {
    for (const event of events) {
      const keys = this.projection.keysOf(event);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        let cached = this.docs.get(key);
        if (cached === undefined) {
          const row = this.evicted ? this.statements.get.get(key) : undefined;
          cached = row
            ? { doc: JSON.parse(row.doc), position: row.position, accountId: event.accountId, dirty: false, indexed: indexedIn(row) }
            : { doc: undefined, position: -1n, accountId: event.accountId, dirty: false, indexed: undefined };
          this.docs.set(key, cached);
        } else if (this.accountByAccount && cached.accountId !== event.accountId) {
          throw new Error(
            `${this.projection.name} document ${key} is folded from the events of ${cached.accountId} and of ${event.accountId}: it cannot be rebuilt account by account`,
          );
        }
        if (cached.position >= event.position) continue;
        cached.doc = this.evolve(cached.doc, event, key);
        cached.position = event.position;
        cached.dirty = true;
      }
    }
    if (events.length > 0) this.currentAccount = events[events.length - 1]!.accountId;
  }

  /** The writes of every changed document, in transaction-sized chunks; `evict` empties the cache after. */
  *flush(evict: boolean): Generator<() => void> {
    const dirty: [string, CachedDoc][] = [];
    for (const entry of this.docs) if (entry[1].dirty) dirty.push(entry);
    for (let start = 0; start < dirty.length; start += FLUSH_CHUNK) {
      const chunk = dirty.slice(start, start + FLUSH_CHUNK);
      yield () => {
        for (const [key, cached] of chunk) {
          if (cached.doc === undefined) {
            this.statements.remove.run(key);
            cached.indexed = undefined;
          } else {
            cached.indexed = writeDoc(this.statements, this.projection, key, cached.position, cached.doc, cached.indexed);
          }
          cached.dirty = false;
        }
      };
    }
    if (!evict) return;
    if (this.accountByAccount) {
      // The current account's events may go on in the next batch; every other account is done.
      const current = new Map<string, CachedDoc>();
      for (const entry of this.docs) if (entry[1].accountId === this.currentAccount) current.set(entry[0], entry[1]);
      this.docs = current;
    } else {
      this.docs.clear();
      this.evicted = true;
    }
  }
}
