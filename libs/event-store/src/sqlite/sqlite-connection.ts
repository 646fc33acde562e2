import BetterSqlite3 from 'better-sqlite3';
import { StoreUnavailableError } from '../event-store.port.js';

/** Errors after which the same write may well succeed later: locked, disk full, I/O, read-only. */
const UNAVAILABLE = /^SQLITE_(?:BUSY|FULL|IOERR|READONLY|CANTOPEN)(?:_|$)/;

/**
 * A connection to the event store's file as every connection to it must be set up, whichever thread
 * opens it: an append is acknowledged only once it is durable, and integers come back as bigints
 * (positions and revisions are 64-bit).
 */
export function openConnection(filePath: string, busyTimeoutMs: number): BetterSqlite3.Database {
  const db = new BetterSqlite3(filePath, { timeout: busyTimeoutMs });
  try {
    const journalMode = db.pragma('journal_mode = WAL', { simple: true });
    if (journalMode !== 'wal') {
      throw new Error(`${filePath} cannot be put in WAL mode (journal_mode is ${String(journalMode)})`);
    }
    // In WAL mode the default (NORMAL) may lose the last commits on power loss; FULL fsyncs every commit.
    db.pragma('synchronous = FULL');
    db.defaultSafeIntegers(true);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** A `StoreUnavailableError` (the caller may retry) for SQLite errors that say so; any other error as it is. */
export function unavailableOr(error: unknown, filePath: string): unknown {
  const code = sqliteCode(error);
  if (code !== undefined && UNAVAILABLE.test(code)) {
    const { message } = error as Error;
    return new StoreUnavailableError(`SQLite event store ${filePath} is unavailable: ${message}`, error);
  }
  return error;
}

/**
 * Recognised by shape, not `instanceof`: the native addon is loaded once per process and throws the
 * SqliteError class of whichever copy of the module initialised it (jest gives each test file its own),
 * and an error that crossed from the append thread is a copy of its name, code and message.
 */
function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return name === 'SqliteError' && typeof code === 'string' ? code : undefined;
}
