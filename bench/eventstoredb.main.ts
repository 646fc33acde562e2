import { ESDB_SIZES, eventStoreDbBench } from './eventstoredb.bench.js';

/** The EventStoreDB-mode benches alone: `node dist/bench/eventstoredb.main.js [--quick]`. */
for (const figure of await eventStoreDbBench(process.argv.includes('--quick') ? ESDB_SIZES.quick : ESDB_SIZES.full)) console.log(JSON.stringify(figure));
