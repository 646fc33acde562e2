/**
 * CSV as RFC 4180 says: records end with CRLF, a field holding a comma, a double quote, CR or LF is
 * enclosed in double quotes, and a double quote inside it is doubled. Every record has as many fields
 * as the header, so a spreadsheet never shifts a column.
 */
export type CsvValue = string | number | bigint | boolean | null | undefined;

const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && !Number.isFinite(value)) {
    // NaN or Infinity in a ledger export is a bug upstream; writing it would hide it.
    throw new RangeError(`csvField: ${value} is not a finite number`);
  }
  const text = String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRecord(values: readonly CsvValue[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** A whole CSV document: the header, then one record per row, each as long as the header. */
export function csvDocument(header: readonly string[], rows: Iterable<readonly CsvValue[]>): string {
  let out = csvRecord(header);
  for (const row of rows) {
    if (row.length !== header.length) {
      throw new RangeError(`csvDocument: a row has ${row.length} fields, the header ${header.length}`);
    }
    out += csvRecord(row);
  }
  return out;
}
