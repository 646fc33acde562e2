import type { FastifyInstance } from 'fastify';

/**
 * A clean stop for keep-alive clients. Closing the server lets the requests in flight finish (their
 * commands reach the store) and answers new ones 503, but a connection on which a client has opened a
 * socket without sending a request yet would hold the stop for minutes (until Node's header timeout).
 * So once no request is in flight, every remaining connection is closed; and after `deadlineMs` they
 * are closed whatever they are doing (the write path still finishes the commands it accepted).
 */
export function installHttpDrain(fastify: FastifyInstance, deadlineMs: number): void {
  let inFlight = 0;
  fastify.server.on('request', (_request, response) => {
    inFlight++;
    response.once('close', () => inFlight--);
  });
  fastify.addHook('preClose', (done) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (inFlight === 0 || Date.now() - started >= deadlineMs) {
        clearInterval(timer);
        fastify.server.closeAllConnections();
      }
    }, 20);
    timer.unref();
    done();
  });
}
