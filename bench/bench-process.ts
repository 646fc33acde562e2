import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { LEDGER_NODE_FLAGS } from '../apps/ledger/src/node-flags.js';

/**
 * Runs a bench's entry point (`script`, a compiled file beside the caller) in a process of its own, with the
 * app's Node flags, and returns what it printed on standard output; its standard error is this process's.
 * Throws if it exits with anything but 0.
 */
export async function outputOfBenchProcess(script: URL, args: readonly string[]): Promise<string> {
  const child = spawn(process.execPath, [...LEDGER_NODE_FLAGS, fileURLToPath(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${fileURLToPath(script)} exited with ${code}`);
  return output;
}
