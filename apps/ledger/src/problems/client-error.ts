import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { problemTypeOf } from './problem.js';

/**
 * Requests so malformed that Node's HTTP parser refuses them (headers or URL over 16 KiB, broken
 * framing, a header timeout) never reach the app; they still get Problem Details, not the framework's
 * plain JSON, and the connection is closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, title] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'Request headers or URL too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request took too long to arrive']
        : [400, 'MALFORMED_REQUEST', 'The request is not valid HTTP'];
  const body = JSON.stringify({ type: problemTypeOf(code), title, status, detail: title, code });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
