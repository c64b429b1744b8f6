import { Command, CommanderError } from 'commander';
import { emulatorCommand } from '../../emulator/src/cli.js';
import { ConfigError, loadConfig } from '../main/config.js';
import { runDemo } from '../main/demo.js';
import { createLogger } from '../main/logger.js';
import { migrateDatabase, readStatus, startPayfold, startProjections } from '../main/serve.js';

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

/**
 * Stops a long-running command cleanly on SIGTERM or SIGINT. The listeners stay registered while
 * `close` runs: tsx's loader re-raises a signal nobody listens to, which would kill the process
 * half-way through closing.
 */
const closeOnSignal = (logger: ReturnType<typeof createLogger>, close: () => Promise<void>) => {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
};

program
  .command('serve')
  .description('run migrations, then serve webhooks and the API and project the log')
  .option('--no-projections', 'answer HTTP only, and leave the projections to `payfold project` processes')
  .action(async (options: { projections: boolean }) => {
    const config = loadConfig(process.env);
    const logger = createLogger(config.logLevel);
    const running = await startPayfold(config, logger, { projections: options.projections });
    closeOnSignal(logger, running.close);
  });

program
  .command('project')
  .description('run migrations, then keep the payments tables up to date with the log (no HTTP)')
  .action(async () => {
    const config = loadConfig(process.env);
    const logger = createLogger(config.logLevel);
    const running = await startProjections(config, logger);
    closeOnSignal(logger, running.close);
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
