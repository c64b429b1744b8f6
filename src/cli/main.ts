import { Command, CommanderError } from 'commander';
import { emulatorCommand } from 'payfold-stripe-emulator/cli';
import { packageVersion } from '../main/package.js';
import { UsageError } from './command-context.js';
import { registerCatalogCommands } from './commands/catalog.js';
import { registerProcessCommands } from './commands/processes.js';
import { registerProjectionCommands, registerSubscriberCommands } from './commands/projections.js';
import { registerStripeCommands } from './commands/stripe.js';

/*
 * The `payfold` command. Every command loads what it needs when it runs (`await import(…)`), so
 * `payfold --help` and `--version` load commander and nothing else (README "Running it"). Exit
 * codes: 0 done, 1 an error (one line on stderr, never a stack trace), 2 `reconcile --dry-run`
 * found drift.
 */
const program = new Command()
  .name('payfold')
  .description('Keep a Postgres payments schema in step with Stripe, from an immutable event log')
  .version(packageVersion, '-v, --version', 'print the version of payfold')
  .option('--json', 'print results as JSON')
  .option('--live', 'act on live mode (test mode is the default), as the Stripe CLI')
  .showHelpAfterError()
  .exitOverride();

registerProcessCommands(program);
registerProjectionCommands(program);
registerSubscriberCommands(program);
registerStripeCommands(program);
registerCatalogCommands(program);
program.addCommand(emulatorCommand());
program
  .command('demo')
  .description(
    'tell a whole story to the Stripe emulator on a throwaway embedded Postgres and print the tables',
  )
  .action(async () => {
    const { runDemo } = await import('../main/demo.js');
    await runDemo((text) => process.stdout.write(text));
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  // One line for the user, never a stack trace or a validation dump.
  const [{ ConfigError }, { describeError }] = await Promise.all([
    import('../main/config.js'),
    import('../projections/engine/index.js'),
  ]);
  const message =
    error instanceof ConfigError || error instanceof UsageError
      ? `${error instanceof UsageError ? 'payfold: ' : ''}${error.message}`
      : `payfold: ${describeError(error)}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
