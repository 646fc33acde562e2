/**
 * A one-line progress bar on stderr: events applied, rate, and time left, estimated from how far the
 * current position is between the first and the last position (positions grow with the log's size).
 */
export function progressReporter(stream: NodeJS.WriteStream, label: string, first: bigint, head: bigint) {
  const started = Date.now();
  let lastDraw = 0;
  const span = head > first ? Number(head - first) : 1;
  // A terminal redraws one line; anything else (a log) keeps every line written.
  const every = stream.isTTY ? TERMINAL_REDRAW_MS : LOG_LINE_MS;
  const draw = (events: number, position: bigint, final = false) => {
    const now = Date.now();
    if (!final && now - lastDraw < every) return;
    lastDraw = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    const ratio = Math.min(1, Math.max(0, Number(position - first) / span));
    const rate = Math.round(events / seconds);
    const eta = ratio > 0 && ratio < 1 ? `${Math.ceil((seconds * (1 - ratio)) / ratio)}s` : final ? 'done' : '…';
    const width = 30;
    const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '-');
    const line = `${label} [${bar}] ${(ratio * 100).toFixed(1).padStart(5)}%  ${events.toLocaleString('en-US')} events  ${rate.toLocaleString('en-US')} ev/s  ETA ${eta}`;
    if (stream.isTTY) stream.write(`\r${line}`);
    else if (final || now - started > 0) stream.write(`${line}\n`);
    if (final && stream.isTTY) stream.write('\n');
  };
  return { update: (events: number, position: bigint) => draw(events, position), done: (events: number, position: bigint) => draw(events, position, true) };
}

const TERMINAL_REDRAW_MS = 100;
const LOG_LINE_MS = 2_000;
