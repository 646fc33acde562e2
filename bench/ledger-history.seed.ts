import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteEventStore, type EventStore } from '#event-store';
import { CreditAccountWriter, type SubmittedCommand } from '#ledger';

/**
 * A realistic ledger history, fast. A template is written through the real write path (decider, codec,
 * group commit), so every event, its JSON and its metadata are what the ledger writes; the template is
 * then copied with the raw insert path under other account ids until the history has `total` events.
 * Writing ten million events through the decider would take longer than replaying them.
 */
export interface SeedOptions {
  readonly total: number;
  /** Accounts in the template; each copy adds as many. */
  readonly templateAccounts: number;
  /** Commands per template account (two of them purchases). */
  readonly commandsPerAccount: number;
}

/** Fixed-width account ids, so a copy renames every occurrence with one string replacement. */
const COPY_TAG = 'c0000-';
const accountId = (i: number) => `acct-${COPY_TAG}${String(i).padStart(5, '0')}`;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** The commands of the template, in the order they are submitted: a day of one hundred-odd teams' traffic. */
export function templateCommands(options: Pick<SeedOptions, 'templateAccounts' | 'commandsPerAccount'>): SubmittedCommand[] {
  const commands: SubmittedCommand[] = [];
  const accounts = options.templateAccounts;
  for (let a = 0; a < accounts; a++) {
    const id = accountId(a);
    commands.push(
      { type: 'PurchaseCredits', accountId: id, purchaseId: 'api-2026', creditType: 'api', credits: 1_000_000, paid: true, amountMinor: 990_000, currency: 'USD', invoiceId: `inv-${a}` },
      { type: 'PurchaseCredits', accountId: id, purchaseId: 'co-trial', creditType: 'company', credits: 1_000_000, paid: false, source: 'trial', expiresAt: T0 + 90 * 86_400_000 },
      { type: 'SetBalanceAlerts', accountId: id, creditType: 'api', consumedPercents: [1], setBy: 'owner' },
    );
  }
  const rest = accounts * (options.commandsPerAccount - 3);
  for (let i = 0; i < rest; i++) {
    const id = accountId(i % accounts);
    const userId = `u-${i % 7}`;
    switch (i % 10) {
      case 0:
        commands.push({ type: 'DispatchWebhook', accountId: id, webhookEventId: `we-${i}`, webhookId: `wh-${i % 3}`, recordType: i % 20 ? 'job' : 'company' });
        break;
      case 1: {
        // A pool of companies per team: most reveals fall inside an open window and are served free.
        const companies = [`co-${(i * 7) % 61}`, ...(i % 30 === 1 ? [`co-${(i * 11) % 61}`, `co-${(i * 13) % 61}`] : [])];
        commands.push({ type: 'RevealCompanies', accountId: id, requestId: `rv-${i}`, companyIds: [...new Set(companies)], action: i % 50 === 1 ? 'export' : 'reveal', allowPartial: false, userId });
        break;
      }
      default:
        commands.push({
          type: 'ChargeRecords', accountId: id, requestId: `rq-${i}`, endpoint: i % 3 ? 'job_search' : i % 2 ? 'company_search' : 'technographics',
          records: 1 + (i % 25), allowPartial: false, apiKeyId: `key-${i % 4}`, userId,
        });
    }
  }
  return commands;
}

async function writeTemplate(store: EventStore, options: SeedOptions): Promise<void> {
  // A day of traffic: business time advances with every decision, never backwards within an account.
  const commands = templateCommands(options);
  let now = T0;
  const step = Math.max(1, Math.floor(86_400_000 / commands.length));
  const writer = new CreditAccountWriter(store, { now: () => (now += step) });
  const context = { correlationId: 'bench-seed', actor: 'gateway' };
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < commands.length) {
        const command = commands[next++]!;
        await writer.execute(command, { ...context, ...('userId' in command && command.userId ? { userId: command.userId } : {}) });
      }
    }),
  );
  await writer.close();
}

export interface TemplateRow {
  readonly stream_id: string;
  readonly stream_revision: bigint;
  readonly type: string;
  readonly data: string;
  readonly metadata: string | null;
  readonly created: bigint;
}

/** The template's events as stored, in global order. */
export async function templateRows(options: SeedOptions): Promise<TemplateRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-seed-'));
  try {
    const store = SqliteEventStore.open(join(dir, 'template.sqlite'));
    await writeTemplate(store, options);
    await store.close();
    const db = new Database(join(dir, 'template.sqlite'), { readonly: true });
    db.defaultSafeIntegers(true);
    const rows = db.prepare<[], TemplateRow>('SELECT stream_id, stream_revision, type, data, metadata, created FROM events ORDER BY position').all();
    db.close();
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Copy `copy` of the template: the same history for other accounts. */
export function copyOf(template: readonly TemplateRow[], copy: number): TemplateRow[] {
  if (copy === 0) return [...template];
  const tag = `c${String(copy).padStart(4, '0')}-`;
  return template.map((row) => ({ ...row, stream_id: row.stream_id.replace(COPY_TAG, tag), data: row.data.replaceAll(COPY_TAG, tag) }));
}

/**
 * Creates `file` as an event store holding about `options.total` events (whole copies of the template).
 * Seeding is not what is measured: it runs with `synchronous = OFF` and large transactions.
 */
export async function seedLedgerHistory(file: string, options: SeedOptions): Promise<{ events: number; accounts: number }> {
  const template = await templateRows(options);
  await SqliteEventStore.open(file).close(); // the store's own schema
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.defaultSafeIntegers(true);
  const numberStream = db.prepare<[string]>('INSERT INTO streams (stream_id) VALUES (?)');
  const insert = db.prepare<[bigint, string, bigint, string, string, string, string | null, bigint]>(
    'INSERT INTO events (stream_no, stream_id, stream_revision, event_id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const copies = Math.max(1, Math.round(options.total / template.length));
  // As the store numbers streams: each in the order it gets its first event.
  const numbers = new Map<string, bigint>();
  const insertCopy = db.transaction((rows: readonly TemplateRow[]) => {
    for (const row of rows) {
      let number = numbers.get(row.stream_id);
      if (number === undefined) {
        number = BigInt(numberStream.run(row.stream_id).lastInsertRowid);
        numbers.set(row.stream_id, number);
      }
      insert.run(number, row.stream_id, row.stream_revision, randomUUID(), row.type, row.data, row.metadata, row.created);
    }
  });
  for (let copy = 0; copy < copies; copy++) insertCopy(copyOf(template, copy));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { events: copies * template.length, accounts: copies * options.templateAccounts };
}
