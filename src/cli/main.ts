import { Command, CommanderError } from 'commander';
import { z } from 'zod';
import { startEmulator } from '../adapters/stripe-emulator/server.js';
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

program
  .command('emulator')
  .description('run the local Stripe emulator (test-mode keys; see the README for what it covers)')
  .option('--port <port>', 'port to listen on', '12111')
  .option('--forward-to <url>', 'also deliver every event here, like stripe listen --forward-to')
  .option('--state-file <path>', 'keep the account in this JSON file across restarts')
  .option('--forward-secret <whsec>', 'sign --forward-to deliveries with this secret (default: a new one)')
  .option('--seed <n>', 'make ids reproducible: the same calls give the same ids')
  .action(
    async (options: {
      port: string;
      forwardTo?: string;
      stateFile?: string;
      forwardSecret?: string;
      seed?: string;
    }) => {
      const port = z.coerce.number().int().min(0).max(65_535).safeParse(options.port);
      if (!port.success) throw new Error(`--port must be a port number, not ${options.port}`);
      if (options.forwardTo && !URL.canParse(options.forwardTo))
        throw new Error('--forward-to must be a URL');
      if (options.forwardSecret !== undefined && !/^whsec_\S+$/.test(options.forwardSecret)) {
        throw new Error('--forward-secret must be a webhook signing secret (whsec_…)');
      }
      const seed = z.coerce.number().int().optional().safeParse(options.seed);
      if (!seed.success) throw new Error('--seed must be an integer');
      const emulator = await startEmulator({
        port: port.data,
        forwardTo: options.forwardTo,
        forwardSecret: options.forwardSecret,
        stateFile: options.stateFile,
        store: seed.data === undefined ? {} : { seed: seed.data },
      });
      print(
        program.opts<GlobalOptions>(),
        [
          `Stripe emulator listening on ${emulator.url} (use STRIPE_API_BASE=${emulator.url} and any sk_test_ key)`,
          // A secret the user chose is theirs to know; one made here is printed so it can be configured.
          ...(options.forwardTo
            ? [
                `Forwarding events to ${options.forwardTo}, signed with ${options.forwardSecret ? 'the given --forward-secret' : emulator.forwardSecret}`,
              ]
            : []),
        ].join('\n'),
        {
          url: emulator.url,
          forwardTo: options.forwardTo ?? null,
          forwardSecret: options.forwardSecret ? null : emulator.forwardSecret,
        },
      );
      const stop = async () => {
        await emulator.stop();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop());
      process.once('SIGINT', () => void stop());
    },
  );

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
