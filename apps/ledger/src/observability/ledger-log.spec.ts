import { Writable } from 'node:stream';
import { createLedgerLog, withoutSecrets } from './ledger-log.js';

function memoryLog() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLedgerLog('info', destination), lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('withoutSecrets', () => {
  it('censors a secret key at the top, inside objects and inside arrays, at any depth and in any case', () => {
    const logged = {
      token: 'top-secret',
      headers: { Authorization: 'Bearer abc', 'content-type': 'application/json' },
      config: { apiTokens: [{ name: 'a', token: 'tok-a' }, { name: 'b', token: 'tok-b' }], signing: { secret: 's3', password: 'pw' } },
      cookie: 'session=1',
    };
    expect(withoutSecrets(logged)).toEqual({
      token: '[redacted]',
      headers: { Authorization: '[redacted]', 'content-type': 'application/json' },
      config: { apiTokens: [{ name: 'a', token: '[redacted]' }, { name: 'b', token: '[redacted]' }], signing: { secret: '[redacted]', password: '[redacted]' } },
      cookie: '[redacted]',
    });
  });

  it('censors a secret whatever its value holds, and leaves an absent one absent', () => {
    expect(withoutSecrets({ secret: { key: 'k', nested: ['x'] }, token: undefined, n: 1 })).toEqual({ secret: '[redacted]', token: undefined, n: 1 });
  });

  it('copies what it censors and never changes the object it was given', () => {
    const headers = { authorization: 'Bearer abc', accept: '*/*' };
    const logged = { headers, list: [{ token: 't' }, { other: 1 }], keep: { a: 1 } };
    const censored = withoutSecrets(logged);
    expect(headers.authorization).toBe('Bearer abc');
    expect(logged.list[0]).toEqual({ token: 't' });
    // What held no secret is shared, not copied.
    expect(censored.keep).toBe(logged.keep);
    expect(censored.list[1]).toBe(logged.list[1]);
  });

  it('returns an object without secrets as it is: an access line costs no copy', () => {
    const line = { method: 'POST', route: '/v1/accounts/:accountId/record-charges', status: 200, durationMs: 1.5, nested: { list: [1, 'two'] } };
    expect(withoutSecrets(line)).toBe(line);
    const list = [{ a: 1 }, 'b'];
    expect(withoutSecrets(list)).toBe(list);
  });

  it('leaves instances of classes to their serializers', () => {
    const error = Object.assign(new Error('boom'), { token: 'kept-for-the-serializer' });
    expect(withoutSecrets({ err: error }).err).toBe(error);
    const when = new Date(0);
    expect(withoutSecrets({ when }).when).toBe(when);
  });

  it('walks objects without a prototype (such as parsed headers)', () => {
    const headers = Object.assign(Object.create(null) as Record<string, string>, { authorization: 'Bearer abc' });
    expect(withoutSecrets({ headers }).headers).toEqual({ authorization: '[redacted]' });
  });

  it('stops at a depth no log call reaches instead of following a cycle', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(withoutSecrets(cyclic)).toBe(cyclic);
  });
});

describe('the ledger log', () => {
  it('writes no secret, wherever it was in what was logged, and the rest as given', () => {
    const { log, lines } = memoryLog();
    log.info({ headers: { authorization: 'Bearer abc123' }, tokens: [{ name: 'gateway', token: 'gw-token-456' }], status: 200 }, 'request');
    log.flush();
    const [line] = lines();
    expect(JSON.stringify(line)).not.toMatch(/abc123|gw-token-456/);
    expect(line).toMatchObject({ msg: 'request', status: 200, headers: { authorization: '[redacted]' }, tokens: [{ name: 'gateway', token: '[redacted]' }] });
  });

  it('censors in child loggers (one per request) and still serializes errors', () => {
    const { log, lines } = memoryLog();
    const child = log.child({ correlationId: 'c-1' });
    child.info({ token: 'child-token' }, 'child');
    child.error({ err: new Error('it broke') }, 'failed');
    log.flush();
    const [info, error] = lines();
    expect(info).toMatchObject({ correlationId: 'c-1', token: '[redacted]', msg: 'child' });
    expect(error).toMatchObject({ correlationId: 'c-1', err: { message: 'it broke', type: 'Error' } });
  });
});
