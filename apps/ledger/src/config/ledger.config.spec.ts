import { formatCpuList, processCpus, quietestCpu } from '#event-store';
import { ConfigError, readConfig } from './ledger.config.js';

const TOKEN = { name: 'gateway', token: 'a-token-of-at-least-24-characters', scopes: ['ledger:write'] };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    readConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('reading the configuration', () => {
  it('has operable defaults', () => {
    const config = readConfig({});
    expect(config.logLevel).toBe('info');
    expect(config.rateLimit).toEqual({ requests: 20_000, windowSeconds: 1 });
    expect(config.publicUrl).toBeUndefined();
    expect(config.workerThreads).toBe(true);
    expect(config.projectionGatherMs).toBe(100);
  });

  it('takes how long the projections gather commits while nobody waits', () => {
    expect(readConfig({ LEDGER_PROJECTION_GATHER_MS: '5' }).projectionGatherMs).toBe(5);
  });

  it('runs everything in one thread when asked', () => {
    expect(readConfig({ LEDGER_WORKER_THREADS: 'off' }).workerThreads).toBe(false);
  });

  it('takes a public URL for links, without its trailing slash', () => {
    expect(readConfig({ LEDGER_PUBLIC_URL: 'https://ledger.example.com/billing/' }).publicUrl).toBe('https://ledger.example.com/billing');
  });

  it('takes a quota per token', () => {
    const config = readConfig({ LEDGER_API_TOKENS: JSON.stringify([{ ...TOKEN, rateLimit: 50 }]), LEDGER_RATE_LIMIT: '0', LEDGER_RATE_LIMIT_WINDOW_SECONDS: '60' });
    expect(config.apiTokens).toEqual([{ ...TOKEN, rateLimit: 50 }]);
    expect(config.rateLimit).toEqual({ requests: 0, windowSeconds: 60 });
  });

  it('places no thread unless asked; "auto" puts the deciding thread on the CPU of several with the fewest device interrupts', () => {
    expect(readConfig({}).decidingCpus).toBeUndefined();
    const cpus = processCpus();
    expect(readConfig({ LEDGER_DECIDING_CPUS: 'auto' }).decidingCpus).toEqual(cpus.length > 1 ? [quietestCpu(cpus)] : undefined);
    if (cpus.length > 1) expect(readConfig({ LEDGER_DECIDING_CPUS: ` ${cpus[0]} ` }).decidingCpus).toEqual([cpus[0]]);
  });

  it('refuses deciding CPUs that are not some of the process\'s', () => {
    const all = formatCpuList(processCpus());
    for (const value of ['one', '1-0', '9999', all]) {
      expect(problemsOf({ LEDGER_DECIDING_CPUS: value })).toEqual([expect.stringMatching(/^LEDGER_DECIDING_CPUS must be "auto" or a list of some, not all,/)]);
    }
  });

  it('names every bad value at once', () => {
    const problems = problemsOf({
      LEDGER_LOG_LEVEL: 'loud',
      LEDGER_RATE_LIMIT: '-1',
      LEDGER_RATE_LIMIT_WINDOW_SECONDS: '0',
      LEDGER_PUBLIC_URL: 'ledger.example.com?x=1',
      LEDGER_WORKER_THREADS: 'yes',
      LEDGER_PROJECTION_GATHER_MS: '2',
      LEDGER_API_TOKENS: JSON.stringify([{ ...TOKEN, rateLimit: 2.5 }]),
    });
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).toMatch(/LEDGER_LOG_LEVEL.*LEDGER_RATE_LIMIT .*LEDGER_RATE_LIMIT_WINDOW_SECONDS.*LEDGER_PUBLIC_URL.*LEDGER_WORKER_THREADS.*LEDGER_PROJECTION_GATHER_MS/s);
    expect(problems.join('\n')).not.toContain(TOKEN.token);
  });
});
