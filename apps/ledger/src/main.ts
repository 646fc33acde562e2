import { ConfigError, readConfig } from './config/ledger.config.js';
import { createLedgerApp } from './ledger.app.js';

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
  const app = await createLedgerApp(config, {
    onGeneratedToken: (file, created) =>
      console.log(
        JSON.stringify({
          level: 'warn',
          msg: created
            ? 'No LEDGER_API_TOKENS configured: generated an admin token (all scopes)'
            : 'No LEDGER_API_TOKENS configured: using the generated admin token',
          tokenFile: file,
        }),
      ),
  });
  await app.listen({ port: config.port, host: config.host });
  // Stop taking requests, let the commands already accepted reach the store, close it, then exit.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log(JSON.stringify({ level: 'info', msg: 'ledger stopping', signal }));
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
  console.log(
    JSON.stringify({ level: 'info', msg: 'ledger listening', url: await app.getUrl(), store: config.store.kind, dataDir: config.dataDir }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
