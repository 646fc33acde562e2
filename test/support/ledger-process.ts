import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { LEDGER_NODE_FLAGS } from '../../apps/ledger/src/node-flags.js';

const MAIN = resolve(process.cwd(), 'dist/apps/ledger/src/main.js');

export interface LedgerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the real ledger (the built `npm start` entry point) as its own process on a free port and
 * resolves once it says it is listening. Tests drive it over HTTP only.
 */
export async function startLedger(env: Record<string, string>, timeoutMs = 30_000): Promise<LedgerProcess> {
  const child = spawn(process.execPath, [...LEDGER_NODE_FLAGS, MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`ledger did not start in ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ledger exited with ${code} before listening:\n${output.join('\n')}`));
    });
    lines.on('line', (line) => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'ledger listening' && entry.url) {
          clearTimeout(timer);
          resolveUrl(entry.url.replace('[::1]', '127.0.0.1'));
        }
      } catch {
        // Not every line is JSON (framework banners); only the listening line matters here.
      }
    });
  });

  return {
    url,
    child,
    output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

const CLI = resolve(process.cwd(), 'dist/apps/ledger/src/cli/ledger-cli.js');

/** Runs the built `ledger` command line to its end; resolves with its exit code and what it printed. */
export function runLedgerCli(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...LEDGER_NODE_FLAGS, CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}
