/** Native-ESM jest: sources are transformed by swc with decorator metadata on. */
const swc = {
  swcrc: false,
  jsc: {
    target: 'es2023',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    keepClassNames: true,
  },
  module: { type: 'es6' },
};

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^#domain$': '<rootDir>/libs/domain/src/index.ts',
    '^#event-store$': '<rootDir>/libs/event-store/src/index.ts',
    '^#event-store/eventstoredb$': '<rootDir>/libs/event-store/src/eventstoredb/index.ts',
    '^#ledger$': '<rootDir>/libs/ledger/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test', '<rootDir>/bench'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  testTimeout: 60000,
  // better-sqlite3's native addon binds to the first test file's realm in a process; recycling the worker
  // after every file gives each file a process of its own, as production has.
  maxWorkers: 2,
  workerIdleMemoryLimit: '1MB',
};
