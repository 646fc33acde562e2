// The EventStoreDB adapter, an entry point of its own (`#event-store/eventstoredb`): loading its client
// takes about 130 ms, which the embedded store, and each of its threads, should not pay for.
export * from './eventstoredb-event-store.js';
