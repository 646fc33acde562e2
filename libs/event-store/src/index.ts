export * from './event-store.port.js';
export * from './sqlite/commit-signal.js';
export * from './sqlite/sqlite-event-store.js';
export * from './worker-script.js';
export * from './with-timeout.js';
export * from './thread-placement.js';
