import { Command, CommanderError } from 'commander';
import { emulatorCommand } from 'payfold-stripe-emulator/cli';
import type { z } from 'zod';
import type { CatalogResult } from '../app/catalog.js';
import type { PayfoldOperations } from '../app/operations.js';
import type { StripeAccess } from '../app/stripe-access.js';
import type { Environment } from '../domain/environment.js';
import { syncObjectKinds } from '../domain/sync-kinds.js';
import { packageVersion } from '../main/package.js';

/*
 * Every command loads what it needs when it runs (`await import(…)`): `payfold --help` and
 * `--version` load commander and nothing else, so they answer at once (README "Running it").
 */
const configured = async () => {
  const [{ loadConfig }, { createLogger }] = await Promise.all([
    import('../main/config.js'),
    import('../main/logger.js'),
  ]);
  return { config: loadConfig(process.env), createLogger };
};

/** Runs `work` with Payfold's operations over the configured database (the admin routes call the same). */
const withOperations = async <T>(work: (operations: PayfoldOperations) => Promise<T>): Promise<T> => {
  const { config, createLogger } = await configured();
  const { withPayfold } = await import('../main/open-payfold.js');
  return withPayfold(config, createLogger('silent'), work);
};

interface GlobalOptions {
  json?: boolean;
}

const print = (options: GlobalOptions, human: string, data: unknown): void => {
  process.stdout.write(options.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
};

const program = new Command()
  .name('payfold')
  .description('Keep a Postgres payments schema in step with Stripe, from an immutable event log')
  .version(packageVersion, '-v, --version', 'print the version of payfold')
  .option('--json', 'print results as JSON')
  .showHelpAfterError()
  .exitOverride();

/**
 * Stops a long-running command cleanly on SIGTERM or SIGINT. The listeners stay registered while
 * `close` runs, so that a second signal (a second Ctrl-C) does not kill the process half-way
 * through closing.
 */
const closeOnSignal = (
  logger: { info(details: object, message: string): void },
  close: () => Promise<void>,
) => {
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
  .option('--subscribers <module>', "run the subscribers this module of the app's exports (see README)")
  .action(async (options: { projections: boolean; subscribers?: string }) => {
    const { config, createLogger } = await configured();
    const { startPayfold } = await import('../main/serve.js');
    const { loadSubscribers } = await import('../main/subscribers-module.js');
    const logger = createLogger(config.logLevel);
    const running = await startPayfold(config, logger, {
      projections: options.projections,
      ...(options.subscribers && { subscribers: await loadSubscribers(options.subscribers) }),
    });
    closeOnSignal(logger, running.close);
  });

program
  .command('project')
  .description('run migrations, then keep the payments tables up to date with the log (no HTTP)')
  .action(async () => {
    const { config, createLogger } = await configured();
    const { startProjections } = await import('../main/serve.js');
    const logger = createLogger(config.logLevel);
    const running = await startProjections(config, logger);
    closeOnSignal(logger, running.close);
  });

program
  .command('migrate')
  .description('apply the database migrations and exit')
  .action(async () => {
    const { config } = await configured();
    const { migrateDatabase } = await import('../main/open-payfold.js');
    const applied = await migrateDatabase(config);
    print(
      program.opts<GlobalOptions>(),
      applied.length > 0 ? `Applied migrations ${applied.join(', ')}` : 'The database is up to date',
      { applied },
    );
  });

program
  .command('status')
  .description('show the Stripe connections, the log head and where each projection stands')
  .action(async () => {
    const status = await withOperations((operations) => operations.status({ parkedEntries: 10 }));
    const lines = [
      ...(status.connections.length === 0
        ? ['stripe: not connected (payfold config set test sk_test_...)']
        : status.connections.map(
            (c) =>
              `stripe ${c.environment}: ${c.active ? 'connected' : 'removed'} ${c.accountId} with ${c.maskedKey} since ${c.connectedAt}; webhooks: ${c.webhook.managed ? `managed endpoint ${c.webhook.endpointId}` : c.webhook.message}`,
          )),
      ...(['test', 'live'] as const).flatMap((environment) =>
        status.syncs[environment].map(
          (sync) =>
            `sync ${environment} ${sync.objectKind.padEnd(16)} ${String(sync.objects).padEnd(8)} objects ${sync.finishedAt ? `done ${sync.finishedAt.toISOString()}` : `under way since ${sync.startedAt.toISOString()}`}`,
        ),
      ),
      `log head: position ${status.logHeadPosition}`,
      `change stream: ${status.changeStream}`,
      ...status.projections.map(
        (p) =>
          `${p.name.padEnd(16)} position ${String(p.position).padEnd(10)} behind ${String(p.behind).padEnd(8)} parked ${p.parkedEntries}${p.lastRebuild ? ` rebuilt ${p.lastRebuild.at.toISOString()} (${p.lastRebuild.reason}${p.lastRebuild.quiet ? ', quiet' : ''})` : ''}`,
      ),
      ...status.parkedEntries.map(
        (e) => `parked: ${e.projection} at ${e.position} (${e.entryType}): ${e.error}`,
      ),
    ];
    print(program.opts<GlobalOptions>(), lines.join('\n'), status);
  });

program
  .command('rebuild')
  .description(
    'rebuild projections from the log into shadow tables while the live ones serve, then apply only what differs',
  )
  .option('--projection <name...>', 'the projections to rebuild (default: all)')
  .option(
    '--quiet',
    'apply the difference with user triggers off (a repair that must not re-run fulfillment)',
  )
  .action(async (options: { projection?: string[]; quiet?: boolean }) => {
    const json = program.opts<GlobalOptions>().json;
    const { rebuildProgressReporter } = await import('./rebuild-progress.js');
    const result = await withOperations(async ({ projections }) => {
      const report = json ? undefined : rebuildProgressReporter(await projections.logEntries());
      return projections.rebuild({
        projections: options.projection,
        quiet: options.quiet,
        reason: 'command',
        onProgress: report,
      });
    });
    if (!result.ok) throw new UsageError(result.message);
    const { summaries } = result;
    const changed = (summary: (typeof summaries)[number]) =>
      Object.entries(summary.changes)
        .filter(
          ([table, counts]) =>
            table.startsWith('payments.') && counts.inserted + counts.updated + counts.deleted > 0,
        )
        .map(([table, counts]) => `${table} +${counts.inserted} ~${counts.updated} -${counts.deleted}`);
    print(
      program.opts<GlobalOptions>(),
      summaries
        .map(
          (summary) =>
            `${summary.projection}: ${summary.entries} entries in ${summary.seconds} s (${summary.entriesPerSecond}/s); ${changed(summary).join(', ') || 'no row changed'}`,
        )
        .join('\n'),
      { rebuilds: summaries },
    );
  });

const projectionsCommand = program
  .command('projections')
  .description('the projections and their parked entries');
projectionsCommand
  .command('retry')
  .description('apply parked entries again, in log order, after a fix (no rebuild)')
  .option('--projection <name...>', 'the projections whose parked entries to retry (default: all)')
  .action(async (options: { projection?: string[] }) => {
    const result = await withOperations(({ projections }) => projections.retryParked(options.projection));
    if (!result.ok) throw new UsageError(result.message);
    const { summaries } = result;
    print(
      program.opts<GlobalOptions>(),
      summaries
        .map(
          (summary) =>
            `${summary.projection}: ${summary.retried} parked entries retried, ${summary.applied} applied, ${summary.stillParked} still parked`,
        )
        .join('\n'),
      { retries: summaries },
    );
  });

program
  .command('reconcile')
  .description(
    'prove, or repair, that the tables match Stripe: missed webhooks, drifted objects, ties, tables',
  )
  .requiredOption('--environment <environment>', 'test or live')
  .option('--dry-run', 'report only; change nothing')
  .action(async (options: { environment: string; dryRun?: boolean }) => {
    const environment = await environmentArgument(options.environment);
    const { reconcileReportText } = await import('./reconcile-report.js');
    const result = await withOperations(({ stripe }) =>
      stripe.reconcile(environment, options.dryRun === true),
    );
    if (!result.ok) throw new UsageError(result.message);
    print(program.opts<GlobalOptions>(), reconcileReportText(result.report), result.report);
  });

program
  .command('replay')
  .description(
    "deliver a subscriber's changes again from a log position or a time (its checkpoint moves back)",
  )
  .requiredOption('--subscriber <name>', 'the subscriber, by its name')
  .requiredOption('--from <point>', 'a log position (a number) or an ISO time (2026-11-01T00:00:00Z)')
  .action(async (options: { subscriber: string; from: string }) => {
    const from = /^\d+$/.test(options.from)
      ? { logPosition: Number(options.from) }
      : Number.isNaN(Date.parse(options.from))
        ? undefined
        : { time: new Date(options.from) };
    if (!from) throw new UsageError(`--from: ${options.from} is neither a log position nor an ISO time`);
    const ahead = await withOperations((operations) => operations.replaySubscriber(options.subscriber, from));
    if (ahead === undefined)
      throw new UsageError(`no subscriber called ${options.subscriber} has run on this database`);
    print(
      program.opts<GlobalOptions>(),
      `${options.subscriber}: ${ahead} changes will be delivered again, from the next time it runs`,
      { subscriber: options.subscriber, changesAhead: ahead },
    );
  });

program
  .command('change-stream')
  .description(
    'turn the capture of payments changes for subscribers (payfold.row_changes) on or off, or say whether it is on',
  )
  .argument('[state]', 'on or off')
  .action(async (state?: string) => {
    if (state !== undefined && state !== 'on' && state !== 'off')
      throw new UsageError(`change-stream: on or off, not ${state}`);
    const on = await withOperations(async ({ changeStream }) => {
      if (state !== undefined) await changeStream.switchTo(state === 'on');
      return changeStream.isOn();
    });
    print(
      program.opts<GlobalOptions>(),
      on
        ? 'the change stream is on: every change of a payments row is captured for subscribers'
        : 'the change stream is off: no change is captured, and subscribers are refused',
      { changeStream: on ? 'on' : 'off' },
    );
  });

const environmentArgument = async (value: string): Promise<Environment> => {
  const { environmentSchema } = await import('../domain/environment.js');
  const parsed = environmentSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`the environment is test or live, not ${value}`);
  return parsed.data;
};

class UsageError extends Error {}

const config = program.command('config').description('connect Payfold to a Stripe account, per environment');

config
  .command('set')
  .description('check a secret key with Stripe, store it encrypted and connect the environment')
  .argument('<environment>', 'test or live')
  .argument('[secret-key]', 'sk_... or rk_... (asked for without echo when omitted)')
  .option('--force', 'switch the environment to a key of another Stripe account')
  .action(async (environmentName: string, secretKey: string | undefined, options: { force?: boolean }) => {
    const environment = await environmentArgument(environmentName);
    const { readSecret } = await import('./read-secret.js');
    const key = secretKey ?? (await readSecret(`Stripe ${environment} secret key: `));
    const result = await withOperations(({ stripe }) =>
      stripe.connect(environment, key, { force: options.force ?? false, firstSync: 'wait' }),
    );
    if (!result.ok) throw new UsageError(result.refusal.message);
    const { connection, switchedFrom, firstSync, webhook } = result;
    const synced =
      firstSync === undefined || firstSync === 'started'
        ? ''
        : firstSync.ok
          ? `; first sync: ${firstSync.summary.kinds.reduce((sum, kind) => sum + kind.objects, 0)} objects appended`
          : `; first sync failed: ${firstSync.message} (run payfold sync --environment ${environment})`;
    print(
      program.opts<GlobalOptions>(),
      [
        `${environment} connected to ${connection.accountId} with ${connection.maskedKey}${switchedFrom ? ` (was ${switchedFrom})` : ''}${synced}`,
        webhook.managed ? `webhooks: Stripe sends them to ${webhook.url}` : `webhooks: ${webhook.message}`,
      ].join('\n'),
      result,
    );
  });

config
  .command('remove')
  .description("deactivate an environment's Stripe connection (the stored tables stay)")
  .argument('<environment>', 'test or live')
  .action(async (environmentName: string) => {
    const environment = await environmentArgument(environmentName);
    const removed = await withOperations(({ stripe }) => stripe.connections.remove(environment));
    print(
      program.opts<GlobalOptions>(),
      removed ? `${environment} disconnected` : `${environment} was not connected`,
      { removed },
    );
  });

program
  .command('sync')
  .description(
    'append every object of the Stripe account to the log, page by page (a sync stopped half-way resumes)',
  )
  .requiredOption('--environment <environment>', 'test, live or all')
  .option('--objects <kinds>', `comma-separated, of ${syncObjectKinds.join(', ')} (default: all)`)
  .action(async (options: { environment: string; objects?: string }) => {
    const environments =
      options.environment === 'all'
        ? (['test', 'live'] as const)
        : [await environmentArgument(options.environment)];
    const kinds = options.objects?.split(',').map((kind) => {
      const known = syncObjectKinds.find((candidate) => candidate === kind.trim());
      if (!known) throw new UsageError(`--objects: ${kind} is not one of ${syncObjectKinds.join(', ')}`);
      return known;
    });
    const json = program.opts<GlobalOptions>().json;
    const { syncProgressReporter } = await import('./sync-progress.js');
    const summaries = await withOperations(async ({ stripe }) => {
      const done = [];
      for (const environment of environments) {
        const result = await stripe.sync(
          environment,
          kinds,
          json ? undefined : syncProgressReporter(environment),
        );
        if (!result.ok) {
          // `all` syncs the environments that are connected.
          if (options.environment === 'all' && result.status === 409) continue;
          throw new UsageError(result.message);
        }
        done.push(result.summary);
      }
      return done;
    });
    print(
      program.opts<GlobalOptions>(),
      summaries
        .map(
          (summary) =>
            `${summary.environment}: ${summary.kinds.reduce((sum, kind) => sum + kind.objects, 0)} objects appended in ${summary.seconds.toFixed(1)} s; the tables follow as the projections catch up`,
        )
        .join('\n') || 'no environment is connected',
      { syncs: summaries },
    );
  });

/** Runs one catalog change and prints what Stripe answered, or the one line saying why not. */
const catalogChange = async (
  environmentName: string,
  change: (stripe: StripeAccess, environment: Environment) => Promise<CatalogResult<{ id: string }>>,
  done: (id: string) => string,
) => {
  const environment = await environmentArgument(environmentName);
  const result = await withOperations(({ stripe }) => change(stripe, environment));
  if (!result.ok) throw new UsageError(result.message);
  print(program.opts<GlobalOptions>(), done(result.object.id), result.object);
};

/** The catalog's schemas, for its flags. */
const catalogSchemas = () => import('../app/catalog.js');

/** A flag's value through a schema: one line naming the flag when it does not fit. */
const parsed = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const flag = String(issue?.path[0] ?? 'options').replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  throw new UsageError(`--${flag}: ${issue?.message ?? 'invalid'}`);
};

const products = program
  .command('products')
  .description('the catalog in Stripe: products (Stripe first, then the log)');
products
  .command('create')
  .requiredOption('--environment <environment>', 'test or live')
  .requiredOption('--name <name>')
  .option('--description <text>')
  .action((options: { environment: string; name: string; description?: string }) =>
    catalogChange(
      options.environment,
      async (stripe, environment) =>
        stripe.catalog.createProduct(
          environment,
          parsed((await catalogSchemas()).productCreateSchema, {
            name: options.name,
            description: options.description,
          }),
        ),
      (id) => `created product ${id}`,
    ),
  );
products
  .command('update')
  .argument('<product>', 'prod_...')
  .requiredOption('--environment <environment>', 'test or live')
  .option('--name <name>')
  .option('--description <text>')
  .action((id: string, options: { environment: string; name?: string; description?: string }) =>
    catalogChange(
      options.environment,
      async (stripe, environment) =>
        stripe.catalog.updateProduct(
          environment,
          id,
          parsed((await catalogSchemas()).productUpdateSchema, {
            name: options.name,
            description: options.description,
          }),
        ),
      (updated) => `updated product ${updated}`,
    ),
  );
products
  .command('archive')
  .argument('<product>', 'prod_...')
  .requiredOption('--environment <environment>', 'test or live')
  .action((id: string, options: { environment: string }) =>
    catalogChange(
      options.environment,
      (stripe, environment) => stripe.catalog.archiveProduct(environment, id),
      (archived) => `archived product ${archived}`,
    ),
  );

const prices = program
  .command('prices')
  .description('the catalog in Stripe: prices (Stripe first, then the log)');
prices
  .command('create')
  .requiredOption('--environment <environment>', 'test or live')
  .requiredOption('--product <product>', 'prod_...')
  .requiredOption('--currency <code>', 'usd, eur, jpy...')
  .requiredOption('--unit-amount <amount>', "in the currency's minor unit (cents)")
  .option('--interval <interval>', 'day, week, month or year, for a recurring price')
  .action(
    (options: {
      environment: string;
      product: string;
      currency: string;
      unitAmount: string;
      interval?: string;
    }) =>
      catalogChange(
        options.environment,
        async (stripe, environment) =>
          stripe.catalog.createPrice(
            environment,
            parsed((await catalogSchemas()).priceCreateSchema, {
              product: options.product,
              currency: options.currency,
              unitAmount: Number(options.unitAmount),
              ...(options.interval && { interval: options.interval }),
            }),
          ),
        (id) => `created price ${id}`,
      ),
  );
prices
  .command('archive')
  .argument('<price>', 'price_...')
  .requiredOption('--environment <environment>', 'test or live')
  .action((id: string, options: { environment: string }) =>
    catalogChange(
      options.environment,
      (stripe, environment) => stripe.catalog.archivePrice(environment, id),
      (archived) => `archived price ${archived}`,
    ),
  );

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
  // One line for the user, never a stack trace.
  const { ConfigError } = await import('../main/config.js');
  const message = error instanceof ConfigError ? error.message : `payfold: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
