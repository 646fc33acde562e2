import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RevealWindow } from '#domain';
import { backgroundThreads, onLinux } from '../testing/background-threads.js';
import { SqliteAccountSnapshots } from './sqlite-account-snapshots.store.js';

const window = (requestId: string, revealedAt: number): RevealWindow => ({ requestId, revealedAt, endsAt: revealedAt + 90 * 86_400_000 });

describe.each([false, true])('SqliteAccountSnapshots, reveal windows (written by a thread of their own: %s)', (writeThread) => {
  let dir: string;
  let snapshots: SqliteAccountSnapshots;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-snapshot-store-'));
    snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread });
  });

  afterEach(async () => {
    await snapshots.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const save = (revision: bigint, windows: [string, RevealWindow[]][]) =>
    snapshots.saveSnapshot('acct', { revision, eventId: `e-${revision}`, state: JSON.stringify({ revision: String(revision) }), windows: windows.map(([c, w]) => [c, JSON.stringify(w)] as const) });
  const found = (companyIds: string[]) => new Map(snapshots.findWindows('acct', companyIds));

  it('finds the windows stored with the snapshots for the companies asked, whatever their ids', async () => {
    const companies = ['a', 'b"quoted"', 'c\\back', 'd,e]', 'é-unicode', 'f', 'g'];
    await save(10n, companies.slice(0, 4).map((c, i) => [c, [window(`r-${i}`, i)]]));
    // The next snapshot stores only what changed: a new window for one, three new companies.
    await save(20n, [['a', [window('r-0', 0), window('r-9', 9)]], ...companies.slice(4).map((c, i): [string, RevealWindow[]] => [c, [window(`s-${i}`, 100 + i)]])]);
    expect(snapshots.load('acct')!.revision).toBe(20n);
    const windows = found([...companies, 'never-revealed']);
    expect([...windows.keys()].sort()).toEqual([...companies].sort());
    expect(windows.get('a')).toEqual([window('r-0', 0), window('r-9', 9)]);
    expect(windows.get('d,e]')).toEqual([window('r-3', 3)]);
    expect(windows.get('g')).toEqual([window('s-2', 102)]);
    // One company by itself, with and without a row.
    expect(snapshots.findWindows('acct', ['c\\back'])).toEqual([['c\\back', [window('r-2', 2)]]]);
    expect(snapshots.findWindows('acct', ['never-revealed'])).toEqual([]);
    expect(snapshots.findWindows('other-account', ['a', 'g'])).toEqual([]);
  });

  it('finds more companies than one statement reads', async () => {
    const companies = Array.from({ length: 12_001 }, (_, i) => `co-${i}`);
    await save(30n, companies.map((c, i) => [c, [window(`r-${i}`, i)]]));
    const windows = found(companies);
    expect(windows.size).toBe(12_001);
    expect(windows.get('co-12000')).toEqual([window('r-12000', 12_000)]);
  });

  it('lets a late snapshot give way without replacing the windows of a later one', async () => {
    await save(20n, [['a', [window('r-1', 1), window('r-2', 2)]]]);
    await save(10n, [['a', [window('r-1', 1)]], ['b', [window('r-0', 0)]]]);
    expect(snapshots.load('acct')!.revision).toBe(20n);
    const windows = found(['a', 'b']);
    expect(windows.get('a')).toEqual([window('r-1', 1), window('r-2', 2)]);
    expect(windows.get('b')).toEqual([window('r-0', 0)]);
  });
});

describe('the thread that writes snapshots', () => {
  it('answers each of many writes sent at once, gives a key filter asked among them the keys sent before it, and fails only the write that fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-snapshot-thread-'));
    const snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread: true });
    try {
      const keysOf = (i: number) => Array.from({ length: 500 }, (_, k) => `request:${i}-${k}`);
      // The first keeps the thread busy while the others arrive: they reach it together.
      const busy = snapshots.saveEntries('busy', 1n, Array.from({ length: 20_000 }, (_, k) => [`request:${crypto.randomUUID()}`, `line-${k}`] as const));
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) sent.push(snapshots.saveEntries('acct', BigInt(i), keysOf(i).map((key) => [key, `line-${i}`] as const)));
      const filter = snapshots.storedKeys('acct');
      const failing = snapshots.saveEntries('acct', 99n, [['request:bad', null as unknown as string]]);
      for (let i = 20; i < 30; i++) sent.push(snapshots.saveEntries('acct', BigInt(i), keysOf(i).map((key) => [key, `line-${i}`] as const)));
      sent.push(snapshots.saveSnapshot('acct', { revision: 29n, eventId: 'e-29', state: '{}', windows: [] }));

      await expect(busy).resolves.toBeUndefined();
      await expect(failing).rejects.toThrow(/NOT NULL/);
      expect(await Promise.allSettled(sent)).toEqual(sent.map(() => ({ status: 'fulfilled', value: undefined })));
      const keys = await filter;
      expect(keys.size).toBe(20 * 500);
      expect(keys.mightHold('request:19-499')).toBe(true);
      const rows = snapshots.storedRowsOf('acct')!;
      expect(rows.revision).toBe(29n);
      expect(rows.entries).toHaveLength(30 * 500);
      expect(rows.entries.find((row) => row.key === 'request:29-0')).toEqual({ key: 'request:29-0', revision: 29n, entry: 'line-29' });
    } finally {
      await snapshots.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  onLinux('runs at a lower priority than the threads that answer requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-snapshot-thread-'));
    const before = backgroundThreads();
    const snapshots = SqliteAccountSnapshots.open(join(dir, 'account-snapshots.sqlite'), { writeThread: true });
    await snapshots.saveSnapshot('acct', { revision: 1n, eventId: 'e-1', state: '{}', windows: [] });
    expect(backgroundThreads()).toBe(before + 1);
    await snapshots.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
