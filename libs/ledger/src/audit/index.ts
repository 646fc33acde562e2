export * from './csv.js';
export * from './account-statement.js';
export * from './finance-position.js';
export * from './finance-position-csv.js';
export * from './audit-events.js';
export * from './audit-reads.js';
