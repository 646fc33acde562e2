import { ConfigError, readConfig } from './config/ledger.config.js';
import { createLedgerApp } from './ledger.app.js';
import { createProcessLog } from './observability/ledger-log.js';

async function main(): Promise<void> {
  let config;
  try {
    config = readConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const log = createProcessLog(config.logLevel);
  const app = await createLedgerApp(config, {
    log,
    onGeneratedToken: (tokenFile, created) =>
      log.warn(
        { tokenFile },
        created
          ? 'No LEDGER_API_TOKENS configured: generated an admin token (all scopes)'
          : 'No LEDGER_API_TOKENS configured: using the generated admin token',
      ),
  });
  await app.listen({ port: config.port, host: config.host });
  // Stop taking requests, let the requests in flight finish and the commands already accepted reach the
  // store, close it, then exit.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'ledger stopping');
      app.close().then(
        () => {
          log.info('ledger stopped');
          log.flush();
          process.exit(0);
        },
        (error: unknown) => {
          log.fatal({ err: error }, 'ledger failed to stop cleanly');
          log.flush();
          process.exit(1);
        },
      );
    });
  }
  log.info({ url: await app.getUrl(), store: config.store.kind, dataDir: config.dataDir }, 'ledger listening');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
