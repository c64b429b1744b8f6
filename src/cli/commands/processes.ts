import type { Command } from 'commander';
import type { PayfoldStatus } from '../../app/operations.js';
import { configured, parkedLines, print, UsageError, withOperations } from '../command-context.js';
import { kindColumn } from '../sync-progress.js';

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

const statusText = (status: PayfoldStatus): string =>
  [
    ...(status.connections.length === 0
      ? ['stripe: not connected (payfold config set sk_test_...)']
      : status.connections.map(
          (c) =>
            `stripe ${c.environment}: ${c.active ? 'connected' : 'removed'} ${c.accountId} with ${c.maskedKey} since ${c.connectedAt}; webhooks: ${c.webhook.managed ? `managed endpoint ${c.webhook.endpointId}` : c.webhook.message}`,
        )),
    ...(['test', 'live'] as const).map(
      (environment) =>
        `last webhook ${environment}: ${status.lastWebhooks[environment]?.toISOString() ?? 'none yet'}`,
    ),
    ...(['test', 'live'] as const).flatMap((environment) =>
      status.syncs[environment].map(
        (sync) =>
          `sync ${environment} ${kindColumn(sync.objectKind)} ${String(sync.objects).padEnd(8)} objects ${sync.finishedAt ? `done ${sync.finishedAt.toISOString()}` : `under way since ${sync.startedAt.toISOString()}`}`,
      ),
    ),
    `log head: position ${status.logHeadPosition}`,
    `change stream: ${status.changeStream}`,
    ...status.projections.map(
      (p) =>
        `${p.name.padEnd(16)} position ${String(p.position).padEnd(10)} behind ${String(p.behind).padEnd(8)} parked ${p.parkedEntries}${p.dismissedEntries > 0 ? ` (dismissed ${p.dismissedEntries})` : ''}${p.updatedAt ? '' : ' (not run yet)'}${p.lastRebuild ? ` rebuilt ${p.lastRebuild.at.toISOString()} (${p.lastRebuild.reason}${p.lastRebuild.quiet ? ', quiet' : ''})` : ''}`,
    ),
    ...parkedLines(status.parkedEntries),
  ].join('\n');

/** The port a `serve` could not take: one line naming what to change. */
const portInUse = (error: unknown, host: string, port: number): Error =>
  (error as { code?: string }).code === 'EADDRINUSE'
    ? new UsageError(
        `${host}:${port} is already in use: choose another port with --port (or PORT), or stop what listens there`,
      )
    : (error as Error);

/** `serve`, `project`, `migrate`, `status`: the processes and what they report. */
export const registerProcessCommands = (program: Command): void => {
  program
    .command('serve')
    .description('run migrations, then serve webhooks and the API and project the log')
    .option('--port <port>', 'listen on this port (PORT; default 8080)')
    .option('--host <host>', 'listen on this address (HOST; default 127.0.0.1)')
    .option('--no-projections', 'answer HTTP only, and leave the projections to `payfold project` processes')
    .option('--subscribers <module>', "run the subscribers this module of the app's exports (see README)")
    .action(async (options: { port?: string; host?: string; projections: boolean; subscribers?: string }) => {
      const { config, createLogger } = await configured({
        ...(options.port !== undefined && { PORT: options.port }),
        ...(options.host !== undefined && { HOST: options.host }),
      });
      const { startPayfold } = await import('../../main/serve.js');
      const { loadSubscribers } = await import('../../main/subscribers-module.js');
      const logger = createLogger(config.logLevel);
      const subscribers = options.subscribers ? await loadSubscribers(options.subscribers) : undefined;
      const running = await startPayfold(config, logger, {
        projections: options.projections,
        ...(subscribers && { subscribers }),
      }).catch((error: unknown) => {
        throw portInUse(error, config.host, config.port);
      });
      closeOnSignal(logger, running.close);
    });

  program
    .command('project')
    .description('run migrations, then keep the payments tables up to date with the log (no HTTP)')
    .action(async () => {
      const { config, createLogger } = await configured();
      const { startProjections } = await import('../../main/serve.js');
      const logger = createLogger(config.logLevel);
      const running = await startProjections(config, logger);
      closeOnSignal(logger, running.close);
    });

  program
    .command('migrate')
    .description('apply the database migrations and exit')
    .action(async function (this: Command) {
      const { config } = await configured();
      const { migrateDatabase } = await import('../../main/open-payfold.js');
      const { applied, database } = await migrateDatabase(config);
      if (database.embedded)
        process.stderr.write(`payfold: ${database.description}${database.created ? ' (made now)' : ''}\n`);
      print(
        this,
        applied.length > 0 ? `Applied migrations ${applied.join(', ')}` : 'The database is up to date',
        {
          applied,
        },
      );
    });

  program
    .command('status')
    .description(
      'show the Stripe connections, the last webhooks, the log head and where each projection stands',
    )
    .action(async function (this: Command) {
      const status = await withOperations((operations) => operations.status({ parkedEntries: 10 }), {
        readOnly: true,
      });
      print(this, statusText(status), status);
    });
};
