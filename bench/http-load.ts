import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { LEDGER_NODE_FLAGS } from '../apps/ledger/src/node-flags.js';
import { outputOfBenchProcess } from './bench-process.js';
import { atFixedRate } from './fixed-rate.js';
import { LeanConnection } from './lean-http.js';
import { stolenCpuMeter } from './stolen-cpu.js';

const TOKEN = 'bench-http-token-0123456789abcdefghij';

export interface HttpFigures {
  readonly batchChargesPerSecond: number;
  readonly singleRequestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Single charges sent at a fixed rate, latency counted from when each was due. */
  readonly fixedRate: {
    readonly rate: number;
    readonly answeredPerSecond: number;
    readonly p50: number;
    readonly p99: number;
    readonly p999: number;
    /**
     * The generator's own event-loop delay meanwhile, 99th percentile and longest (ms): a request due
     * while the generator's thread was held goes out that much late, and an answer is read that much
     * late, whatever the app did; both count in the latency.
     */
    readonly generatorDelayP99: number;
    readonly generatorDelayMax: number;
    /** Full collections of the app's request thread meanwhile, the warm-up's included (`fullCollectionsOf`). */
    readonly appFullCollections: number;
    /** The p99 of the warm-up at the same rate just before, not counted in the others. */
    readonly warmUpP99: number;
  };
  /** The share of the machine's CPU time stolen by the hypervisor during each phase (`stolenCpuMeter`). */
  readonly cpuStolen: { readonly batch?: number; readonly single?: number; readonly fixedRate?: number };
}

/** The real app (`npm start`'s entry point) in its own process; the load comes from this one. */
async function startApp(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  // BENCH_APP_NODE_ARGS passes flags to the app's process, e.g. "--cpu-prof --cpu-prof-dir=prof".
  const nodeArgs = process.env.BENCH_APP_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...LEDGER_NODE_FLAGS, ...nodeArgs, resolve('dist/apps/ledger/src/main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LEDGER_DATA_DIR: dataDir,
      LEDGER_API_TOKENS: JSON.stringify([{ name: 'bench', token: TOKEN, scopes: ['ledger:write', 'ledger:read'] }]),
      // To compare the app with everything in one thread: LEDGER_WORKER_THREADS=off npm run bench.
      ...(process.env.LEDGER_WORKER_THREADS ? { LEDGER_WORKER_THREADS: process.env.LEDGER_WORKER_THREADS } : {}),
      // And with the projections applying every commit at once: LEDGER_PROJECTION_GATHER_MS=5 npm run bench.
      ...(process.env.LEDGER_PROJECTION_GATHER_MS ? { LEDGER_PROJECTION_GATHER_MS: process.env.LEDGER_PROJECTION_GATHER_MS } : {}),
      // And with the deciding thread on a CPU of its own: LEDGER_DECIDING_CPUS=auto npm run bench.
      ...(process.env.LEDGER_DECIDING_CPUS ? { LEDGER_DECIDING_CPUS: process.env.LEDGER_DECIDING_CPUS } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((done, fail) => {
    child.once('exit', (code) => fail(new Error(`the app exited with ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'ledger listening' && entry.url) {
          // The access log that follows is drained unread: parsing a line a request took the load
          // generator 1-3 µs a request, on the cores the app runs on.
          lines.close();
          child.stdout!.resume();
          done(entry.url);
        }
      } catch {
        // not a JSON line
      }
    });
  });
  return { url, child };
}

/**
 * The load generator shares the machine's cores with the app, so it is kept lean: node:http on
 * keep-alive sockets (WHATWG fetch costs this process several times more CPU per request).
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  return send(url, 'POST', JSON.stringify(body));
}

function get(url: string): Promise<{ status: number; text: string }> {
  return send(url, 'GET');
}

function send(url: string, method: 'GET' | 'POST', payload?: string): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    const call = request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', fail);
      },
    );
    call.on('error', fail);
    call.end(payload);
  });
}

/**
 * Full collections (mark-compacts) of the app's request thread so far, from its own metrics. Each took
 * tens of milliseconds of that thread and its helpers, and every request in flight waited: whether one
 * fell in the fixed-rate phase decided its p99 (docs/benchmarks.md, twenty-second session).
 */
async function fullCollectionsOf(url: string): Promise<number> {
  // Through the generator's keep-alive agent, not `fetch`: the first `fetch` of this process, just before
  // the warm-up, left the requests of its first half-second 30-50 ms late (docs/benchmarks.md,
  // twenty-third session).
  const { status, text } = await get(`${url}/metrics`);
  if (status !== 200 || !text.includes('ledger_nodejs_gc_duration_seconds_count')) {
    throw new Error(`the app's metrics have no collections: ${status}`);
  }
  // prom-client writes a kind's line once it has seen one.
  const major = /^ledger_nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text);
  return major ? Number(major[1]) : 0;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** p50, p99 and p99.9 of latencies in milliseconds (sorted in place), to two decimals. */
function percentiles(latencies: number[]): { p50: number; p99: number; p999: number } {
  latencies.sort((a, b) => a - b);
  const at = (p: number) => Number(percentile(latencies, p).toFixed(2));
  return { p50: at(50), p99: at(99), p999: at(99.9) };
}

function openConnections(url: string, count: number): Promise<LeanConnection[]> {
  return Promise.all(Array.from({ length: count }, () => LeanConnection.open(url, { authorization: `Bearer ${TOKEN}` })));
}

/** One single-charge request; throws unless the app charged exactly its one credit. */
async function chargeOne(connection: LeanConnection, accountId: string, requestId: string): Promise<void> {
  const response = await connection.post(`/v1/accounts/${accountId}/record-charges`, { requestId, endpoint: 'job_search', records: 1 });
  if (response.status !== 200 || (JSON.parse(response.text) as { creditsCharged?: unknown }).creditsCharged !== 1) {
    throw new Error(`a single charge failed: ${response.status} ${response.text}`);
  }
}

export interface HttpLoadOptions {
  readonly batches: number;
  readonly singleSeconds: number;
  readonly concurrency: number;
  readonly fixedRate: number;
  readonly fixedRateSeconds: number;
  /** Sent at the fixed rate before it is timed, and timed apart. */
  readonly fixedRateWarmUpSeconds: number;
}

/**
 * `httpLoad` with the load generated by a process of its own (`http-load.main.ts`), started for it with
 * the app's Node flags. By then the bench's own process has run every earlier bench, and its heap has
 * about 1.3 GB in use, nearly all of it what the million-account and million-event benches left for a
 * collection that has not come yet (live: 25 MB). As the generator it read its timers up to 10-15 ms late,
 * against 5-6 fresh, and the fixed-rate latency counted that (docs/benchmarks.md, twenty-third session).
 */
export async function httpLoadFromFreshProcess(options: HttpLoadOptions): Promise<HttpFigures> {
  const output = await outputOfBenchProcess(new URL('./http-load.main.js', import.meta.url), [JSON.stringify(options)]);
  return JSON.parse(output.trim().split('\n').at(-1)!) as HttpFigures;
}

export async function httpLoad(options: HttpLoadOptions): Promise<HttpFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-bench-http-'));
  const { url, child } = await startApp(dataDir);
  try {
    const accounts = Array.from({ length: 100 }, (_, i) => `h-${i}`);
    for (const accountId of accounts) {
      const response = await post(`${url}/v1/accounts/${accountId}/purchases`, { purchaseId: 'p', creditType: 'api', credits: 1_000_000_000, amountMinor: 1, currency: 'USD' });
      if (response.status !== 201) throw new Error(`seeding failed: ${response.status}`);
    }

    // Batch route: 1,000 charges a request over 100 accounts, 4 requests in flight.
    let next = 0;
    const batchStarted = process.hrtime.bigint();
    const batchStolen = stolenCpuMeter();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < options.batches) {
          const b = next++;
          const charges = Array.from({ length: 1000 }, (_, i) => ({ accountId: accounts[i % 100], requestId: `b${b}-${i}`, endpoint: 'job_search', records: 1 }));
          const response = await post(`${url}/v1/record-charges:batch`, { charges });
          const { results } = JSON.parse(response.text) as { results: { status: number }[] };
          if (response.status !== 200 || results.some((r) => r.status !== 200)) throw new Error('a batch charge failed');
        }
      }),
    );
    const batchSeconds = Number(process.hrtime.bigint() - batchStarted) / 1e9;
    const batchCpuStolen = batchStolen();

    // Single charges: `concurrency` clients, each on its own connection, send one charge after another
    // for a fixed time; each is timed, and each answer is checked.
    const latencies: number[] = [];
    const connections = await openConnections(url, options.concurrency);
    const deadline = Date.now() + options.singleSeconds * 1000;
    let n = 0;
    const singleStarted = process.hrtime.bigint();
    const singleStolen = stolenCpuMeter();
    try {
      await Promise.all(
        connections.map(async (connection) => {
          while (Date.now() < deadline) {
            const i = n++;
            const t0 = process.hrtime.bigint();
            await chargeOne(connection, accounts[i % 100]!, `s-${i}`);
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          }
        }),
      );
    } finally {
      for (const connection of connections) connection.close();
    }
    const singleSeconds = Number(process.hrtime.bigint() - singleStarted) / 1e9;
    const singleCpuStolen = singleStolen();

    // The same charges at a fixed rate: how long a request takes at that load, rather than how many
    // requests a fixed number of clients can push. Connections to spare, so the generator never waits.
    const pool = await openConnections(url, 64);
    let warmUp;
    let fixed;
    let fullCollectionsBefore;
    let fixedStolen;
    // Not `withLongestHold`: its turn after turn keeps this thread busy, on the CPUs the app needs.
    const generatorDelay = monitorEventLoopDelay({ resolution: 1 });
    try {
      // Counted from before the warm-up, not between it and the timed run: a request to the app's metrics
      // leaves the next quarter of a second of requests up to 10-15 ms later than the rest
      // (docs/benchmarks.md, twenty-third session).
      fullCollectionsBefore = await fullCollectionsOf(url);
      // The same rate first, not timed with the rest (its p99 is a figure of its own): the app comes out
      // of the closed loop saturated, often with the full collection that loop's garbage brings under way.
      warmUp = await atFixedRate({
        rate: options.fixedRate,
        seconds: options.fixedRateWarmUpSeconds,
        connections: pool,
        send: (connection, i) => chargeOne(connection, accounts[i % 100]!, `w-${i}`),
      });
      fixedStolen = stolenCpuMeter();
      generatorDelay.enable();
      fixed = await atFixedRate({
        rate: options.fixedRate,
        seconds: options.fixedRateSeconds,
        connections: pool,
        send: (connection, i) => chargeOne(connection, accounts[i % 100]!, `f-${i}`),
      });
    } finally {
      generatorDelay.disable();
      for (const connection of pool) connection.close();
    }
    const fixedCpuStolen = fixedStolen();
    const appFullCollections = (await fullCollectionsOf(url)) - fullCollectionsBefore;
    // The histogram records the time between the timer's turns, which is its 1 ms resolution when nothing waits.
    const ms = (nanoseconds: number) => Math.max(0, Math.round((nanoseconds / 1e6 - 1) * 100) / 100);
    return {
      batchChargesPerSecond: Math.round((options.batches * 1000) / batchSeconds),
      singleRequestsPerSecond: Math.round(latencies.length / singleSeconds),
      ...percentiles(latencies),
      fixedRate: {
        rate: options.fixedRate,
        answeredPerSecond: Math.round(fixed.answered / fixed.seconds),
        ...percentiles(fixed.latencies),
        generatorDelayP99: ms(generatorDelay.percentile(99)),
        generatorDelayMax: ms(generatorDelay.max),
        appFullCollections,
        warmUpP99: percentiles(warmUp.latencies).p99,
      },
      cpuStolen: { batch: batchCpuStolen, single: singleCpuStolen, fixedRate: fixedCpuStolen },
    };
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
