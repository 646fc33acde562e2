import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys whose values never reach a log line, whatever object they are found in (compared in lower case). */
const SECRET_KEYS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'password', 'secret', 'token']);
const CENSORED = '[redacted]';
/** Deeper than anything the ledger logs; a deeper value is left as it is rather than walked forever. */
const MAX_DEPTH = 8;

/**
 * The object a log call was given, with the value of every secret key censored in it and in the plain
 * objects and arrays it holds, at any depth. What holds no secret is returned as it is (no copy), so
 * the access line of every request costs a few key lookups; what does is copied along the way, never
 * changed in place. Instances of classes (an Error, a request) are left to their serializers.
 */
export function withoutSecrets<T>(value: T, depth = 0): T {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const censored = withoutSecrets(item, depth + 1);
      if (censored !== item) (copy ??= value.slice())[i] = censored;
    }
    return (copy ?? value) as T;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item: unknown = (value as Record<string, unknown>)[key];
    const censored = SECRET_KEYS.has(key.toLowerCase()) ? (item === undefined ? item : CENSORED) : withoutSecrets(item, depth + 1);
    if (censored !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = censored;
  }
  return (copy ?? value) as T;
}

/**
 * One JSON line per log event on standard output. Nothing the ledger logs carries a token, and secret
 * keys are censored anyway (`withoutSecrets`) in case a header or a token config ever reaches a log call.
 * Not pino's `redact`: for a key under a wildcard it runs on every value of every line, and cost the
 * request thread about 9% of what it allocates. A child logger's bindings are not walked (pino does not
 * pass them through this formatter): the ledger's only child loggers are Fastify's, one per request,
 * bound to its correlation id.
 */
export function createLedgerLog(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'credit-ledger' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (object) => withoutSecrets(object) },
    },
    // Lines are gathered into writes of 4 KiB, or every 200 ms, and written asynchronously: one write
    // per access line cost the request thread about 8% of a CPU profile. pino flushes on exit.
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 }),
  );
}

/**
 * The log of the ledger's own process: lines go to standard output from a worker thread (pino's
 * transport), so the request thread only hands them over instead of making the write calls, which cost
 * it 6-8% of its time at a few thousand requests per second.
 */
export function createProcessLog(level: LogLevel): Logger {
  return createLedgerLog(level, pino.transport({ target: 'pino/file', options: { destination: 1 } }));
}

/** Nest's start-up chatter (modules loaded, each route mapped) is for debugging, not for every start. */
const FRAMEWORK_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/** Nest's own messages (and `new Logger(context)` in the app) go through the same JSON log. */
export class NestLogAdapter implements LoggerService {
  constructor(private readonly target: Logger) {}

  log(message: unknown, context?: string): void {
    this.write(context !== undefined && FRAMEWORK_CONTEXTS.has(context) ? 'debug' : 'info', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    // Nest passes (message, stack?, context?).
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    const stack = rest.length > 1 && typeof rest[0] === 'string' ? rest[0] : undefined;
    this.write('error', message, context, stack ? { stack } : {});
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.write('trace', message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.write('fatal', message, context);
  }

  private write(level: Exclude<LogLevel, 'silent'>, message: unknown, context: string | undefined, extra: object = {}): void {
    if (message instanceof Error) {
      this.target[level]({ context, err: message, ...extra }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.target[level]({ context, ...extra, ...message });
    } else {
      this.target[level]({ context, ...extra }, String(message));
    }
  }
}
