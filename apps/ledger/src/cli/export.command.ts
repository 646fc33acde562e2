import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { EventStore, Position } from '#event-store';
import { ledgerEventsCsv, ledgerEventsNdjson, parsePosition, readLedgerEvents } from '#ledger';
import { progressReporter } from './progress.js';

export type ExportFormat = 'ndjson' | 'csv';

/**
 * The audit export: every event of the ledger in global order, with positions, to a file — the same
 * rows as `GET /v1/audit/events` in NDJSON or CSV, written page by page so any history fits.
 */
export async function exportLedger(
  store: EventStore,
  file: string,
  format: ExportFormat,
  stderr: NodeJS.WriteStream,
): Promise<{ events: number }> {
  const head = (await store.headPosition())?.commit ?? 0n;
  const progress = progressReporter(stderr, `export ${format}`, 0n, head);
  const out = createWriteStream(file, { flags: 'wx' });
  let after: Position | undefined;
  let events = 0;
  let first = true;
  for (;;) {
    const page = await readLedgerEvents(store, { ...(after ? { after } : {}), limit: 5000 });
    if (page.events.length > 0 || first) {
      let chunk = format === 'csv' ? ledgerEventsCsv(page.events) : ledgerEventsNdjson(page.events);
      // The CSV header goes once, at the top of the file.
      if (format === 'csv' && !first) chunk = chunk.slice(chunk.indexOf('\r\n') + 2);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    first = false;
    events += page.events.length;
    const last = page.events[page.events.length - 1];
    if (last) progress.update(events, parsePosition(last.position)?.commit ?? 0n);
    if (!page.next) break;
    after = parsePosition(page.next.after);
  }
  out.end();
  await once(out, 'finish');
  progress.done(events, head);
  return { events };
}
