import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { readConfig } from '../../apps/ledger/src/config/ledger.config.js';
import { createLedgerApp } from '../../apps/ledger/src/ledger.app.js';

export interface LedgerOnLoopback {
  readonly app: NestFastifyApplication;
  readonly baseUrl: string;
  /** Closes the app and removes its data directory. */
  close(): Promise<void>;
}

/** The app in this process, configured from `env` over a fresh data directory, listening on a free port. */
export async function ledgerOnLoopback(name: string, env: Record<string, string>): Promise<LedgerOnLoopback> {
  const dataDir = mkdtempSync(join(tmpdir(), `ledger-${name}-`));
  const app = await createLedgerApp(readConfig({ ...env, LEDGER_DATA_DIR: dataDir }), { logLevel: 'silent' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    baseUrl: await app.getUrl(),
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
