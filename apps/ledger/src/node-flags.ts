/**
 * The V8 settings every start of the ledger uses: `npm start`, the container, the `ledger` command line,
 * the benches and the end-to-end tests (docs/benchmarks.md has the measurements).
 *
 * - `--max-semi-space-size=64`: each charge allocates a handful of short-lived objects (a command, its
 *   events, their metadata, an answer, a promise); V8's default 16 MiB semi-spaces fill every few thousand
 *   charges, and scavenging them took 16% of the deciding thread. 64 MiB semi-spaces scavenge a quarter
 *   as often, for at most 3 × 48 MiB more young generation per busy thread.
 * - `--heap-growing-percent=300`: after a full collection V8 lets the old generation grow to a factor of
 *   what survived, chosen for 97% mutator utilization. Its collections look cheap next to the
 *   ledger's allocation, so it chose 1.1-1.6, and the request thread's heap was collected in full
 *   every 3-15 s under steady traffic. A full collection takes 10-40 ms of that thread and about 140 ms
 *   of marking on V8's helper threads: on two CPUs every request in flight then waits tens of
 *   milliseconds. 300 is a factor of 4, V8's own largest on a machine with memory to spare: the old
 *   generation may grow further between full collections, which come several times less often.
 */
export const LEDGER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64', '--heap-growing-percent=300'];
