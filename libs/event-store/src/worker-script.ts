import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
