import { connect, type Socket } from 'node:net';

const HEADERS_END = Buffer.from('\r\n\r\n');

export interface LeanResponse {
  readonly status: number;
  readonly text: string;
}

/**
 * One keep-alive HTTP/1.1 connection that sends one request at a time and reads the whole answer: a
 * load generator on the app's own machine takes CPU from it, and node:http costs about 90 µs of this
 * process per request against a few here, as wrk's C client would. It speaks only what the bench needs:
 * answers with a `content-length` (Fastify's JSON answers), no chunked bodies, no redirects, and it
 * fails loudly on anything else.
 */
export class LeanConnection {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiting: { done: (response: LeanResponse) => void; fail: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly host: string,
    private readonly headers: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the app closed the connection')));
  }

  static open(url: string, headers: Record<string, string>): Promise<LeanConnection> {
    const { hostname, port, host } = new URL(url);
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    return new Promise((done, fail) => {
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.off('error', fail);
        done(new LeanConnection(socket, host, extra));
      });
      socket.once('error', fail);
    });
  }

  post(path: string, body: unknown): Promise<LeanResponse> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error('one request at a time on a connection'));
    const payload = Buffer.from(JSON.stringify(body));
    const head = `POST ${path} HTTP/1.1\r\nhost: ${this.host}\r\n${this.headers}content-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`;
    return new Promise((done, fail) => {
      this.waiting = { done, fail };
      this.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
    });
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const data = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    const headersEnd = data.indexOf(HEADERS_END);
    if (headersEnd < 0) return;
    const head = data.toString('latin1', 0, headersEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length || /\r\ntransfer-encoding:/i.test(head)) {
      this.fail(new Error(`an answer without a content-length: ${head.split('\r\n')[0]}`));
      return;
    }
    const end = headersEnd + HEADERS_END.length + Number(length[1]);
    if (data.length < end) {
      this.pending = [data];
      return;
    }
    if (data.length > end) {
      this.fail(new Error('the app answered more than was asked'));
      return;
    }
    this.pending = [];
    this.pendingBytes = 0;
    const status = Number(head.slice(9, 12));
    const waiting = this.waiting;
    this.waiting = undefined;
    if (!waiting) {
      this.fail(new Error('an answer nobody asked for'));
      return;
    }
    waiting.done({ status, text: data.toString('utf8', headersEnd + HEADERS_END.length, end) });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.fail(error);
  }
}
