import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LeanConnection } from './lean-http.js';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ server: Server; url: string; connections: () => number }> {
  let accepted = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  server.on('connection', () => accepted++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => accepted };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

describe('the bench load generator connection', () => {
  let running: Server | undefined;
  afterEach(async () => {
    running?.closeAllConnections();
    running?.close();
    running = undefined;
  });

  it('sends each request whole, with its headers, and reads each answer on one kept-alive connection', async () => {
    const { server, url, connections } = await serve((request, body, response) =>
      json(response, 200, { method: request.method, path: request.url, authorization: request.headers.authorization, type: request.headers['content-type'], body: JSON.parse(body) }),
    );
    running = server;
    const connection = await LeanConnection.open(url, { authorization: 'Bearer t' });
    for (let i = 0; i < 50; i++) {
      const response = await connection.post(`/v1/x/${i}`, { requestId: `r-${i}`, note: 'café ✓' });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.text)).toEqual({ method: 'POST', path: `/v1/x/${i}`, authorization: 'Bearer t', type: 'application/json', body: { requestId: `r-${i}`, note: 'café ✓' } });
    }
    expect(connections()).toBe(1);
    connection.close();
  });

  it('puts an answer together from pieces however the bytes arrive', async () => {
    const text = JSON.stringify({ results: Array.from({ length: 2_000 }, (_, i) => ({ index: i, status: 200 })) });
    const { server, url } = await serve((_request, _body, response) => {
      // Headers, then the body in small writes, each flushed on its own.
      response.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      response.flushHeaders();
      let at = 0;
      const step = () => {
        if (at >= text.length) return response.end();
        response.write(text.slice(at, at + 997));
        at += 997;
        setImmediate(step);
      };
      step();
    });
    running = server;
    const connection = await LeanConnection.open(url, {});
    const response = await connection.post('/', {});
    expect(response).toEqual({ status: 201, text });
    connection.close();
  });

  it('reports the status of a refusal with its body', async () => {
    const { server, url } = await serve((_request, _body, response) => json(response, 402, { code: 'CREDITS_INSUFFICIENT' }));
    running = server;
    const connection = await LeanConnection.open(url, {});
    expect(await connection.post('/', {})).toEqual({ status: 402, text: '{"code":"CREDITS_INSUFFICIENT"}' });
    connection.close();
  });

  it('fails on an answer it cannot measure (chunked) and on a connection the server closes', async () => {
    const { server, url } = await serve((request, _body, response) => {
      if (request.url === '/chunked') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"a":');
        response.end('1}');
      } else request.socket.destroy();
    });
    running = server;
    const chunked = await LeanConnection.open(url, {});
    await expect(chunked.post('/chunked', {})).rejects.toThrow(/content-length/);
    chunked.close();
    const closed = await LeanConnection.open(url, {});
    await expect(closed.post('/close', {})).rejects.toThrow(/closed/);
    await expect(closed.post('/close', {})).rejects.toThrow(/closed/);
  });

  it('refuses a second request while one is waiting', async () => {
    const { server, url } = await serve((_request, _body, response) => setTimeout(() => json(response, 200, {}), 20));
    running = server;
    const connection = await LeanConnection.open(url, {});
    const first = connection.post('/', {});
    await expect(connection.post('/', {})).rejects.toThrow(/one request at a time/);
    expect((await first).status).toBe(200);
    connection.close();
  });
});
