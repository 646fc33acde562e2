import { resolve } from 'node:path';
import { formatCpuList, parseCpuList, processCpus, quietestCpu } from '#event-store';
import { SCOPES, type ApiTokenConfig, type Scope } from '../auth/scopes.js';
import { LOG_LEVELS, type LogLevel } from '../observability/ledger-log.js';

export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'eventstoredb'; readonly connectionString: string };

export interface LedgerConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: StoreConfig;
  /** The read models (projections), rebuildable from the events at any time. */
  readonly readModelsFile: string;
  /** Account snapshots, beside the read models, whichever event store the ledger uses (derived data too). */
  readonly snapshotsFile: string;
  /** Undefined when none are configured: an admin token is then generated in the data directory. */
  readonly apiTokens: readonly ApiTokenConfig[] | undefined;
  readonly bodyLimitBytes: number;
  /** Base64 key for signing usage-page links; generated in the data directory when absent. */
  readonly linkSecret: string | undefined;
  /** How often expired remainders are recorded in the background; 0 turns the job off. */
  readonly expirySweepIntervalMs: number;
  readonly logLevel: LogLevel;
  /** The base URL people reach the ledger at (usage-page links); by default the request's own Host. */
  readonly publicUrl: string | undefined;
  /** Requests each token may make per window (0: no limit), unless the token names its own. */
  readonly rateLimit: { readonly requests: number; readonly windowSeconds: number };
  /**
   * With the embedded store, the projections (and the appends' SQLite work) run in worker threads of
   * their own, off the thread that serves requests and decides commands. Off: all in one thread.
   */
  readonly workerThreads: boolean;
  /**
   * How long the projection thread lets commits gather while no query waits to read its own write
   * (`ProjectionEngineOptions.patientGatherMs`): longer batches cost less a charge under heavy load, and
   * make a query that comes then wait for a larger batch to be applied.
   */
  readonly projectionGatherMs: number;
  /**
   * CPUs for the main thread, which decides commands and serves requests; every other thread then runs on
   * the process's other CPUs (`placeThreads`). Undefined: the scheduler places every thread.
   */
  readonly decidingCpus: readonly number[] | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment once, at start-up, naming every bad value at once. */
export function readConfig(env: NodeJS.ProcessEnv): LedgerConfig {
  const problems: string[] = [];

  const port = env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT must be an integer between 0 and 65535 (got "${env.PORT}")`);
  }
  const host = env.HOST || '0.0.0.0';
  const dataDir = resolve(env.LEDGER_DATA_DIR || './data');

  const storeKind = env.LEDGER_STORE || 'sqlite';
  let store: StoreConfig = { kind: 'sqlite', file: resolve(dataDir, 'ledger.sqlite') };
  if (storeKind === 'eventstoredb') {
    const connectionString = env.EVENTSTORE_CONNECTION_STRING ?? '';
    if (!/^esdb(\+discover)?:\/\/\S+$/.test(connectionString)) {
      problems.push(
        'EVENTSTORE_CONNECTION_STRING must be an esdb:// or esdb+discover:// connection string when LEDGER_STORE=eventstoredb (e.g. esdb://localhost:2113?tls=false)',
      );
    }
    store = { kind: 'eventstoredb', connectionString };
  } else if (storeKind !== 'sqlite') {
    problems.push(`LEDGER_STORE must be "sqlite" or "eventstoredb" (got "${storeKind}")`);
  }

  const apiTokens = parseTokens(env.LEDGER_API_TOKENS, problems);

  const bodyLimitBytes = env.LEDGER_BODY_LIMIT_BYTES ? Number(env.LEDGER_BODY_LIMIT_BYTES) : 1_048_576;
  if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 1024) {
    problems.push(`LEDGER_BODY_LIMIT_BYTES must be an integer of at least 1024 (got "${env.LEDGER_BODY_LIMIT_BYTES}")`);
  }

  const expirySweepIntervalMs = env.LEDGER_EXPIRY_SWEEP_INTERVAL_MS ? Number(env.LEDGER_EXPIRY_SWEEP_INTERVAL_MS) : 15 * 60_000;
  if (!Number.isInteger(expirySweepIntervalMs) || expirySweepIntervalMs < 0) {
    problems.push(`LEDGER_EXPIRY_SWEEP_INTERVAL_MS must be a whole number of milliseconds, 0 to turn the sweep off (got "${env.LEDGER_EXPIRY_SWEEP_INTERVAL_MS}")`);
  }

  const logLevel = (env.LEDGER_LOG_LEVEL || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LEDGER_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${env.LEDGER_LOG_LEVEL}")`);

  const rateLimitRequests = env.LEDGER_RATE_LIMIT ? Number(env.LEDGER_RATE_LIMIT) : 20_000;
  if (!Number.isInteger(rateLimitRequests) || rateLimitRequests < 0) {
    problems.push(`LEDGER_RATE_LIMIT must be a whole number of requests per token per window, 0 for no limit (got "${env.LEDGER_RATE_LIMIT}")`);
  }
  const rateLimitWindowSeconds = env.LEDGER_RATE_LIMIT_WINDOW_SECONDS ? Number(env.LEDGER_RATE_LIMIT_WINDOW_SECONDS) : 1;
  if (!Number.isInteger(rateLimitWindowSeconds) || rateLimitWindowSeconds < 1 || rateLimitWindowSeconds > 3600) {
    problems.push(`LEDGER_RATE_LIMIT_WINDOW_SECONDS must be a whole number of seconds from 1 to 3600 (got "${env.LEDGER_RATE_LIMIT_WINDOW_SECONDS}")`);
  }

  const publicUrl = env.LEDGER_PUBLIC_URL ? env.LEDGER_PUBLIC_URL.replace(/\/+$/, '') : undefined;
  if (publicUrl !== undefined && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(publicUrl)) {
    problems.push(`LEDGER_PUBLIC_URL must be an http(s) URL without query or fragment, e.g. https://ledger.example.com (got "${env.LEDGER_PUBLIC_URL}")`);
  }

  const workerThreads = env.LEDGER_WORKER_THREADS || 'on';
  if (workerThreads !== 'on' && workerThreads !== 'off') {
    problems.push(`LEDGER_WORKER_THREADS must be "on" or "off" (got "${env.LEDGER_WORKER_THREADS}")`);
  }

  const projectionGatherMs = env.LEDGER_PROJECTION_GATHER_MS ? Number(env.LEDGER_PROJECTION_GATHER_MS) : 100;
  if (!Number.isInteger(projectionGatherMs) || projectionGatherMs < 5 || projectionGatherMs > 1000) {
    problems.push(`LEDGER_PROJECTION_GATHER_MS must be a whole number of milliseconds from 5 to 1000 (got "${env.LEDGER_PROJECTION_GATHER_MS}")`);
  }

  const decidingCpus = readDecidingCpus(env.LEDGER_DECIDING_CPUS, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host,
    dataDir,
    store,
    readModelsFile: resolve(dataDir, 'read-models.sqlite'),
    snapshotsFile: resolve(dataDir, 'account-snapshots.sqlite'),
    apiTokens,
    bodyLimitBytes,
    linkSecret: env.LEDGER_LINK_SECRET || undefined,
    expirySweepIntervalMs,
    logLevel,
    publicUrl,
    rateLimit: { requests: rateLimitRequests, windowSeconds: rateLimitWindowSeconds },
    workerThreads: workerThreads === 'on',
    projectionGatherMs,
    decidingCpus,
  };
}

/** A CPU list (`1`, `2-3`), or `auto`: the process's CPU with the fewest device interrupts, when it has more than one. */
function readDecidingCpus(raw: string | undefined, problems: string[]): number[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  if (process.platform !== 'linux') {
    problems.push(`LEDGER_DECIDING_CPUS places threads on CPUs, which this ledger does only on Linux (got "${raw}")`);
    return undefined;
  }
  const cpus = processCpus();
  if (raw.trim() === 'auto') return cpus.length > 1 ? [quietestCpu(cpus)] : undefined;
  const deciding = parseCpuList(raw);
  if (!deciding || deciding.some((cpu) => !cpus.includes(cpu)) || deciding.length >= cpus.length) {
    problems.push(
      `LEDGER_DECIDING_CPUS must be "auto" or a list of some, not all, of the CPUs this process may use (${formatCpuList(cpus)}), like "${quietestCpu(cpus)}" (got "${raw}")`,
    );
    return undefined;
  }
  return deciding;
}

function parseTokens(raw: string | undefined, problems: string[]): ApiTokenConfig[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push('LEDGER_API_TOKENS must be a JSON array of {"name","token","scopes":[...]}: it is not valid JSON');
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    problems.push('LEDGER_API_TOKENS must be a non-empty JSON array of {"name","token","scopes":[...]}');
    return undefined;
  }
  const tokens: ApiTokenConfig[] = [];
  const names = new Set<string>();
  const secrets = new Set<string>();
  parsed.forEach((entry: unknown, i) => {
    const at = `LEDGER_API_TOKENS[${i}]`;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${at} must be an object`);
      return;
    }
    const { name, token, scopes, rateLimit } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
      problems.push(`${at}.name must be 1-64 characters of letters, digits, "_", ".", ":" or "-"`);
      return;
    }
    if (names.has(name)) problems.push(`${at}.name "${name}" is used twice`);
    names.add(name);
    // The token itself is never echoed in a message: only its position and name.
    if (typeof token !== 'string' || token.length < 24 || /\s/.test(token)) {
      problems.push(`${at}.token (${name}) must be a string of at least 24 characters without spaces`);
      return;
    }
    if (secrets.has(token)) problems.push(`${at}.token (${name}) is the same as another token`);
    secrets.add(token);
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
      problems.push(`${at}.scopes (${name}) must be a non-empty array of ${SCOPES.join(', ')}`);
      return;
    }
    if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && (rateLimit as number) >= 0)) {
      problems.push(`${at}.rateLimit (${name}) must be a whole number of requests per window, 0 for no limit`);
      return;
    }
    tokens.push({ name, token, scopes: [...new Set(scopes as Scope[])], ...(rateLimit !== undefined ? { rateLimit: rateLimit as number } : {}) });
  });
  return tokens;
}
