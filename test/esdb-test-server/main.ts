import { EsdbTestServer } from './esdb-test-server.js';

/** `npm run esdb:test-server`: the in-memory EventStoreDB on ESDB_TEST_SERVER_HOST:ESDB_TEST_SERVER_PORT. */
async function main(): Promise<void> {
  const server = await EsdbTestServer.start({
    port: Number(process.env.ESDB_TEST_SERVER_PORT ?? 2113),
    host: process.env.ESDB_TEST_SERVER_HOST ?? '127.0.0.1',
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      console.log(JSON.stringify({ level: 'info', msg: 'esdb test server stopping', signal }));
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
  console.log(JSON.stringify({ level: 'info', msg: 'esdb test server listening', connectionString: server.connectionString }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
