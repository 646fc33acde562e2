import 'reflect-metadata';
import { SqliteEventStore, type EventStore } from '#event-store';
import { accountsWithExpiredLots, CreditAccountWriter, LEDGER_PROJECTIONS, SqliteAccountSnapshots, SqliteReadModelStore, sweepExpiries, systemClock } from '#ledger';
import { catchUpReadModels } from './ledger-history.js';
import { ConfigError, readConfig, type LedgerConfig } from '../config/ledger.config.js';
import { replay } from './replay.command.js';
import { exportLedger, type ExportFormat } from './export.command.js';
import { progressReporter } from './progress.js';
import { verify, type VerifyProgress } from './verify.command.js';

const USAGE = `usage: npm run ledger -- <command> [options]   (same environment variables as the app)

  replay [--projection <name>]...   rebuild read models from the first event into fresh tables and swap
                                    them in; a running ledger keeps serving the old ones meanwhile
                                    (projections: ${LEDGER_PROJECTIONS.map((p) => p.name).join(', ')}; default: all)
  verify                            replay the whole history in memory and prove the read models and
                                    every balance equal what the events say; exits 1 on any difference
  sweep-expiries                    record the remainder of every lot whose expiry passed, at its expiry
                                    instant (what the app's background sweep does); safe beside a running app
  export --out <file> [--format ndjson|csv]
                                    the audit export: every event of the ledger in global order, with
                                    positions (the rows of GET /v1/audit/events); refuses to overwrite
`;

async function openStore(config: LedgerConfig): Promise<EventStore> {
  return config.store.kind === 'sqlite'
    ? SqliteEventStore.open(config.store.file)
    : (await import('#event-store/eventstoredb')).EventStoreDbEventStore.connect(config.store.connectionString);
}

function optionValues(args: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === name && args[i + 1] !== undefined) values.push(args[++i]!);
  return values;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 64;
  }
  const config = readConfig(process.env);
  const store = await openStore(config);
  const readModels = SqliteReadModelStore.open(config.readModelsFile);
  try {
    switch (command) {
      case 'replay': {
        const names = optionValues(args, '--projection');
        const unknown = names.filter((n) => !LEDGER_PROJECTIONS.some((p) => p.name === n));
        if (unknown.length > 0) {
          process.stderr.write(`unknown projection: ${unknown.join(', ')}\n${USAGE}`);
          return 64;
        }
        const selected = names.length > 0 ? LEDGER_PROJECTIONS.filter((p) => names.includes(p.name)) : LEDGER_PROJECTIONS;
        const { events, seconds } = await replay(store, readModels, selected, process.stderr);
        process.stdout.write(
          `${JSON.stringify({ command: 'replay', projections: selected.map((p) => p.name), events, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(events / Math.max(seconds, 1e-9)) })}\n`,
        );
        return 0;
      }
      case 'verify': {
        const snapshots = SqliteAccountSnapshots.open(config.snapshotsFile);
        // The bar counts accounts: verification goes account by account.
        let progress: ReturnType<typeof progressReporter> | undefined;
        const onProgress = ({ accounts, of, events }: VerifyProgress) => {
          progress ??= progressReporter(process.stderr, 'verify', 0n, BigInt(of));
          progress.update(events, BigInt(accounts));
        };
        const report = await verify(store, readModels, LEDGER_PROJECTIONS, snapshots, { snapshotsFile: config.snapshotsFile, onProgress }).finally(() =>
          snapshots.close(),
        );
        progress?.done(report.events, BigInt(report.accounts));
        for (const difference of report.differences) process.stdout.write(`DIFFERENCE ${difference}\n`);
        const { events, accounts, documents, snapshots: checked, snapshotRows, foreignSnapshots } = report;
        process.stdout.write(
          `${JSON.stringify({ command: 'verify', ok: report.differences.length === 0, events, accounts, documents, snapshots: checked, snapshotRows, foreignSnapshots, differences: report.differences.length })}\n`,
        );
        return report.differences.length === 0 ? 0 : 1;
      }
      case 'sweep-expiries': {
        await catchUpReadModels(store, readModels, LEDGER_PROJECTIONS);
        const writer = new CreditAccountWriter(store, systemClock);
        const report = await sweepExpiries(writer, await accountsWithExpiredLots(readModels, systemClock.now()), 'ledger-cli');
        await writer.close();
        for (const failure of report.failures) process.stderr.write(`FAILED ${failure.accountId}: ${failure.error}\n`);
        process.stdout.write(`${JSON.stringify({ command: 'sweep-expiries', ...report, failures: report.failures.length })}\n`);
        return report.failures.length === 0 ? 0 : 1;
      }
      case 'export': {
        const [file] = optionValues(args, '--out');
        const [format = 'ndjson'] = optionValues(args, '--format');
        if (!file || (format !== 'ndjson' && format !== 'csv')) {
          process.stderr.write(`export needs --out <file> and --format ndjson|csv\n${USAGE}`);
          return 64;
        }
        const { events } = await exportLedger(store, file, format as ExportFormat, process.stderr);
        process.stdout.write(`${JSON.stringify({ command: 'export', file, format, events })}\n`);
        return 0;
      }
      default:
        process.stderr.write(`unknown command: ${command}\n${USAGE}`);
        return 64;
    }
  } finally {
    readModels.close();
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
