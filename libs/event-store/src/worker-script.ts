import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/**
 * The compiled file of a worker thread's module that sits beside `importMetaUrl`'s module. A worker
 * thread runs a JavaScript file; the app runs from `dist/`, where it sits beside its caller. Tests run
 * the TypeScript sources, transformed in memory, so the worker is taken from the build that `npm test`
 * makes first (`dist/` mirrors the source tree). Undefined when neither exists.
 */
export function compiledWorkerScript(importMetaUrl: string, name: string): URL | undefined {
  const beside = new URL(`./${name}.js`, importMetaUrl);
  if (existsSync(beside)) return beside;
  const source = fileURLToPath(importMetaUrl);
  const match = /^(.*)[\\/](apps|libs|bench)[\\/](.*)[\\/][^\\/]+\.ts$/.exec(source);
  if (!match) return undefined;
  const [, root, top, folder] = match;
  const built = pathToFileURL(`${root}/dist/${top}/${folder}/${name}.js`);
  return existsSync(built) ? built : undefined;
}

/** Whether a worker thread can open the same SQLite database by this name: not one in memory. */
export function sharedWithThreads(sqliteFile: string): boolean {
  return sqliteFile !== '' && sqliteFile !== ':memory:' && !sqliteFile.startsWith('file::memory:');
}

/** The nice value `yieldToForegroundThreads` gives a background thread (0 is the default, 19 the lowest). */
export const BACKGROUND_NICE = 10;

/**
 * Lowers the scheduling priority of the calling worker thread, so that when the CPUs are all busy the
 * threads that answer requests and append their events run first. On Linux the nice value belongs to a
 * thread, and `setpriority` of "the calling process" (0) sets the calling thread's; elsewhere it would be
 * the whole process's, so it is left alone, as on the main thread. A background thread still gets every
 * cycle nobody else wants. Lowering one's own priority needs no privilege; if the system refuses anyway,
 * the thread runs as it would have. Returns whether it was lowered.
 */
export function yieldToForegroundThreads(): boolean {
  if (process.platform !== 'linux' || isMainThread) return false;
  try {
    setPriority(0, BACKGROUND_NICE);
    return true;
  } catch {
    return false;
  }
}
