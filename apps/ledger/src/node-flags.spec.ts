import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LEDGER_NODE_FLAGS } from './node-flags.js';

const root = process.cwd();
const scripts = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('the node flags the ledger runs with', () => {
  it.each(['start', 'bench', 'ledger'])('are on the command of npm run %s', (script) => {
    const command = scripts[script]!;
    const node = command.slice(command.lastIndexOf('node '));
    expect(node.split(/\s+/).slice(1, 1 + LEDGER_NODE_FLAGS.length)).toEqual([...LEDGER_NODE_FLAGS]);
  });

  it("are on the container's command", () => {
    const cmd = readFileSync(resolve(root, 'Dockerfile'), 'utf8').match(/^CMD (\[.*\])$/m);
    expect(cmd).not.toBeNull();
    expect(JSON.parse(cmd![1]!)).toEqual(['node', ...LEDGER_NODE_FLAGS, 'dist/apps/ledger/src/main.js']);
  });

  // V8's own flags are not all allowed in NODE_OPTIONS, so Node is started with them: it refuses one it
  // does not know ("bad option", exit 9).
  it('are flags Node starts with', () => {
    const started = spawnSync(process.execPath, [...LEDGER_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
    expect({ status: started.status, stderr: started.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
