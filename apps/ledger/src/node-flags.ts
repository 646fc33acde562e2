/**
 * The V8 settings every start of the ledger uses: `npm start`, the container, the `ledger` command line,
 * the benches and the end-to-end tests. Each charge allocates a handful of short-lived objects (a command,
 * its events, their metadata, an answer, a promise); V8's default 16 MiB semi-spaces fill every few
 * thousand charges, and scavenging them took 16% of the deciding thread. 64 MiB semi-spaces scavenge a
 * quarter as often, for at most 3 × 48 MiB more young generation per busy thread (docs/benchmarks.md).
 */
export const LEDGER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
