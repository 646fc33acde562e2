import { atFixedRate } from './fixed-rate.js';

/** A connection to a fake app that answers after `delay(i)` ms, and fails a second request sent before the first is answered. */
function fakeApp(delay: (i: number) => number) {
  const sent: number[] = [];
  const send = (connection: { busy: boolean }, i: number) => {
    if (connection.busy) return Promise.reject(new Error('two requests at once on a connection'));
    connection.busy = true;
    sent.push(i);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        connection.busy = false;
        resolve();
      }, delay(i)),
    );
  };
  return { send, sent, connections: (n: number) => Array.from({ length: n }, () => ({ busy: false })) };
}

describe('atFixedRate', () => {
  it('sends every request due, in order, one at a time on each connection, at the rate asked', async () => {
    const app = fakeApp(() => 1);
    const run = await atFixedRate({ rate: 1000, seconds: 0.3, connections: app.connections(8), send: app.send });
    expect(run.answered).toBe(300);
    expect(app.sent).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // 300 requests due over 0.3 s: the run cannot be shorter, and a fast app keeps up with it.
    expect(run.seconds).toBeGreaterThanOrEqual(0.299);
    expect(run.seconds).toBeLessThan(1.5);
  });

  it('counts a stall against every request due during it, not only against those it was serving', async () => {
    // One connection; request 20 takes 200 ms. Requests due meanwhile wait for the connection.
    const app = fakeApp((i) => (i === 20 ? 200 : 0));
    const run = await atFixedRate({ rate: 1000, seconds: 0.4, connections: app.connections(1), send: app.send });
    expect(run.answered).toBe(400);
    // Those due in the stall's first 100 ms waited at least 100 ms; a closed loop would count one slow request.
    expect(run.latencies.filter((ms) => ms >= 100).length).toBeGreaterThanOrEqual(100);
  });

  it('rejects with the first failure', async () => {
    const connections = [{}, {}];
    const send = (_: object, i: number) => (i === 5 ? Promise.reject(new Error('a single charge failed: 500')) : Promise.resolve());
    await expect(atFixedRate({ rate: 1000, seconds: 0.1, connections, send })).rejects.toThrow('a single charge failed: 500');
  });

  it('refuses a run with nothing to send or nothing to send it on', () => {
    expect(() => atFixedRate({ rate: 0, seconds: 1, connections: [{}], send: () => Promise.resolve() })).toThrow(RangeError);
    expect(() => atFixedRate({ rate: 100, seconds: 1, connections: [], send: () => Promise.resolve() })).toThrow(RangeError);
  });
});
