import { Command, CommanderError } from 'commander';
import { emulatorCommand } from '../../emulator/src/cli.js';
import { ConfigError, loadConfig } from '../main/config.js';
import { runDemo } from '../main/demo.js';
import { createLogger } from '../main/logger.js';
import { migrateDatabase, readStatus, startPayfold } from '../main/serve.js';

interface GlobalOptions {
  json?: boolean;
}

const print = (options: GlobalOptions, human: string, data: unknown): void => {
  process.stdout.write(options.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
};

const program = new Command()
  .name('payfold')
  .description('Keep a Postgres payments schema in step with Stripe, from an immutable event log')
  .option('--json', 'print results as JSON')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('run migrations, then serve webhooks and the API and project the log')
  .action(async () => {
    const config = loadConfig(process.env);
    const logger = createLogger(config.logLevel);
    const running = await startPayfold(config, logger);
    const shutdown = async (signal: string) => {
      logger.info({ signal }, 'shutting down');
      await running.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });

program
  .command('migrate')
  .description('apply the database migrations and exit')
  .action(async () => {
    const applied = await migrateDatabase(loadConfig(process.env));
    print(
      program.opts<GlobalOptions>(),
      applied.length > 0 ? `Applied migrations ${applied.join(', ')}` : 'The database is up to date',
      { applied },
    );
  });

program
  .command('status')
  .description('show the log head and where each projection stands')
  .action(async () => {
    const status = await readStatus(loadConfig(process.env));
    const lines = [
      `log head: position ${status.logHeadPosition}`,
      ...status.projections.map(
        (p) =>
          `${p.name.padEnd(16)} position ${String(p.position).padEnd(10)} behind ${String(p.behind).padEnd(8)} parked ${p.parkedEntries}`,
      ),
      ...status.parkedEntries.map(
        (e) => `parked: ${e.projection} at ${e.position} (${e.entryType}): ${e.error}`,
      ),
    ];
    print(program.opts<GlobalOptions>(), lines.join('\n'), status);
  });

program.addCommand(emulatorCommand());

program
  .command('demo')
  .description(
    'tell a whole story to the Stripe emulator on a throwaway embedded Postgres and print the tables',
  )
  .action(async () => {
    await runDemo((text) => process.stdout.write(text));
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  // One line for the user, never a stack trace.
  const message = error instanceof ConfigError ? error.message : `payfold: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
