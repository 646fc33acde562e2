import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteReadModelStore, type CreditAccountWriter, type ProjectionFollower } from '#ledger';
import type { LedgerConfig } from '../config/ledger.config.js';
import { ExpirySweepJob } from './expiry-sweep.job.js';

describe('ExpirySweepJob', () => {
  let dir: string;
  let readModels: SqliteReadModelStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-expiry-job-'));
    readModels = SqliteReadModelStore.open(join(dir, 'read-models.sqlite'));
  });

  afterEach(() => {
    readModels.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const engineAt = (position: bigint, waitedFor: bigint[]): ProjectionFollower => ({
    start: () => undefined,
    stop: () => Promise.resolve(),
    position: () => position,
    waitFor: (target: bigint) => {
      waitedFor.push(target);
      return Promise.resolve(true);
    },
    health: { running: true, lastError: undefined },
  });
  const job = (writer: Pick<CreditAccountWriter, 'highestPosition'>, engine: ProjectionFollower) =>
    new ExpirySweepJob({ expirySweepIntervalMs: 0 } as LedgerConfig, writer as CreditAccountWriter, readModels, engine, { now: () => Date.parse('2026-06-01T00:00:00Z') });

  describe('when this instance wrote past what the read models show', () => {
    it('waits for the projections to reach its last write before it looks for candidates', async () => {
      const waitedFor: bigint[] = [];
      await job({ highestPosition: 42n }, engineAt(10n, waitedFor)).runOnce();
      expect(waitedFor).toEqual([42n]);
    });
  });

  describe('when this instance has written nothing', () => {
    it('sweeps what the read models show without waiting', async () => {
      const waitedFor: bigint[] = [];
      await job({ highestPosition: undefined }, engineAt(10n, waitedFor)).runOnce();
      expect(waitedFor).toEqual([]);
    });
  });
});
