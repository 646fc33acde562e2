export * from './clock/clock.port.js';
export * from './events/event-metadata.js';
export * from './events/event-codec.js';
export * from './write-path/credit-account.writer.js';
export * from './read-path/account-views.js';
export * from './read-path/account-history.js';
