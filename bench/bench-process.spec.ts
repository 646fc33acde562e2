import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { outputOfBenchProcess } from './bench-process.js';

describe('a bench run in a process of its own', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-process-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function script(name: string, source: string): URL {
    const file = join(dir, name);
    writeFileSync(file, source);
    return pathToFileURL(file);
  }

  it('returns what it printed on standard output, given its arguments', async () => {
    const echo = script('echo.mjs', 'console.log(JSON.stringify(process.argv.slice(2)));');
    await expect(outputOfBenchProcess(echo, ['{"rate":5000}', '--quick'])).resolves.toBe('["{\\"rate\\":5000}","--quick"]\n');
  });

  it("runs with the app's Node flags", async () => {
    const flags = script('flags.mjs', 'console.log(process.execArgv.join(" "));');
    expect(await outputOfBenchProcess(flags, [])).toContain('--heap-growing-percent=300');
  });

  it('fails when the process does', async () => {
    const failing = script('failing.mjs', "console.log('half a figure'); process.exit(3);");
    await expect(outputOfBenchProcess(failing, [])).rejects.toThrow(/exited with 3/);
  });
});
