import { Command } from 'commander';

interface EmulatorCommandOptions {
  port: string;
  forwardTo?: string;
  stateFile?: string;
  forwardSecret?: string;
  seed?: string;
  settlementDelay: string;
  json?: boolean;
}

/**
 * The emulator's command line: `stripe-emulator` on its own (`emulator/bin`), and
 * `payfold emulator`, which adds this same command to Payfold's. The server and zod are loaded
 * when the command runs, so that defining it costs `payfold --help` nothing.
 */
export const emulatorCommand = (): Command =>
  new Command('emulator')
    .description('run the local Stripe emulator (test-mode keys; see the README for what it covers)')
    .option('--port <port>', 'port to listen on', '12111')
    .option('--forward-to <url>', 'also deliver every event here, like stripe listen --forward-to')
    .option('--state-file <path>', 'keep the account in this JSON file across restarts')
    .option('--forward-secret <whsec>', 'sign --forward-to deliveries with this secret (default: a new one)')
    .option('--seed <n>', 'make ids reproducible: the same calls give the same ids')
    .option(
      '--settlement-delay <ms>',
      "how long after a charge succeeds its balance transaction appears (charge.updated), as Stripe's comes seconds later",
      '2000',
    )
    .option('--json', 'print what it started as JSON')
    .action(async function (this: Command) {
      const options = this.optsWithGlobals<EmulatorCommandOptions>();
      const [{ z }, { startEmulator }] = await Promise.all([import('zod'), import('./server.js')]);
      const port = z.coerce.number().int().min(0).max(65_535).safeParse(options.port);
      if (!port.success) throw new Error(`--port must be a port number, not ${options.port}`);
      if (options.forwardTo && !URL.canParse(options.forwardTo))
        throw new Error('--forward-to must be a URL');
      if (options.forwardSecret !== undefined && !/^whsec_\S+$/.test(options.forwardSecret)) {
        throw new Error('--forward-secret must be a webhook signing secret (whsec_…)');
      }
      const seed = z.coerce.number().int().optional().safeParse(options.seed);
      if (!seed.success) throw new Error('--seed must be an integer');
      const settlementDelay = z.coerce.number().int().min(0).max(600_000).safeParse(options.settlementDelay);
      if (!settlementDelay.success) throw new Error('--settlement-delay must be milliseconds (0 to 600000)');
      const emulator = await startEmulator({
        port: port.data,
        forwardTo: options.forwardTo,
        forwardSecret: options.forwardSecret,
        stateFile: options.stateFile,
        store: {
          settlementDelayMs: settlementDelay.data,
          ...(seed.data === undefined ? {} : { seed: seed.data }),
        },
      });
      // A secret the user chose is theirs to know; one made here is printed so it can be configured.
      const started = {
        url: emulator.url,
        forwardTo: options.forwardTo ?? null,
        forwardSecret: options.forwardSecret ? null : emulator.forwardSecret,
      };
      const human = [
        `Stripe emulator listening on ${emulator.url} (use STRIPE_API_BASE=${emulator.url} and any sk_test_ key)`,
        ...(options.forwardTo
          ? [
              `Forwarding events to ${options.forwardTo}, signed with ${options.forwardSecret ? 'the given --forward-secret' : emulator.forwardSecret}`,
            ]
          : []),
      ].join('\n');
      process.stdout.write(`${options.json ? JSON.stringify(started) : human}\n`);
      const stop = async () => {
        await emulator.stop();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop());
      process.once('SIGINT', () => void stop());
    });

/** Runs the command on the process's arguments; a failure is one line on stderr, never a stack trace. */
export const runEmulatorCli = async (argv: readonly string[]): Promise<void> => {
  const command = emulatorCommand().name('stripe-emulator').exitOverride();
  try {
    await command.parseAsync(argv);
  } catch (error) {
    if (error instanceof Error && 'exitCode' in error) process.exit(Number(error.exitCode));
    process.stderr.write(`stripe-emulator: ${(error as Error).message}\n`);
    process.exit(1);
  }
};
