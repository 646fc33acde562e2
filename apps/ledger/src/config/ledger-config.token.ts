/** The validated configuration, for providers that need a setting. */
export const LEDGER_CONFIG = Symbol('LEDGER_CONFIG');
