import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { recordWebhookRedelivery } from '../adapters/postgres/payments-reads.js';
import type { Pool } from '../adapters/postgres/pool.js';
import { serverChecks } from '../adapters/postgres/server-checks.js';
import { verifyStripeSignature } from '../adapters/stripe/webhook-signature.js';
import { userTokenVerifier } from '../adapters/user-tokens.js';
import { ingestStripeWebhook } from '../app/ingest-stripe-webhook.js';
import type { StripeAccess } from '../app/stripe-access.js';
import { buildHttpApp } from '../http/app.js';
import { type ProjectionEngine, ProjectionRunner } from '../projections/engine/index.js';
import { projectors } from '../projections/index.js';
import {
  pruneRowChanges,
  requireChangeStreamFor,
  type Subscriber,
  SubscriberRunner,
} from '../subscribers/index.js';
import type { PayfoldConfig } from './config.js';
import { createMetrics } from './metrics.js';
import { openPayfold } from './open-payfold.js';
import { packageRoot, packageVersion } from './package.js';

export interface RunningPayfold {
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  databaseUrl: string;
  runner: ProjectionRunner;
  close(): Promise<void>;
}

/**
 * At start: secrets sealed under a previous master key are sealed again under the current one, and
 * `STRIPE_SECRET_KEY_*` connect an environment that has never been connected (a stored key, even
 * a removed one, is never overwritten from the environment).
 */
const prepareStripeConnections = async (
  config: PayfoldConfig,
  logger: Logger,
  stripe: StripeAccess,
): Promise<void> => {
  const { connections } = stripe;
  const resealed = await connections.resealAll();
  if (resealed > 0) logger.info({ resealed }, 'stored secrets sealed again under the current master key');
  const known = new Set((await connections.list()).map((connection) => connection.environment));
  for (const environment of ['test', 'live'] as const) {
    const key = config.stripeSecretKeys[environment];
    if (!key || known.has(environment)) continue;
    const result = await stripe.connect(environment, key, { firstSync: 'background' });
    if (result.ok) logger.info({ environment, account: result.connection.accountId }, 'stripe connected');
    else
      logger.warn(
        { environment, reason: result.refusal.message },
        `STRIPE_SECRET_KEY_${environment.toUpperCase()} was not connected`,
      );
  }
};

/**
 * Blue/green after an upgrade: projections whose tables an older version of their code built are
 * rebuilt in the background (the live tables keep serving, the runner keeps projecting), and only
 * the rows the new code builds differently change.
 */
const rebuildOutdated = (projections: ProjectionEngine, logger: Logger): void => {
  void projections
    .rebuildOutdated()
    .catch((error: Error) =>
      logger.error(
        { err: { message: error.message } },
        'rebuild after a projector change failed; it runs again at the next start',
      ),
    );
};

const hourMs = 60 * 60 * 1000;

/** Prunes the change stream now and every hour: every process may, and deleting twice is harmless. */
const keepRowChangesPruned = (pool: Pool, logger: Logger, retentionDays: number): NodeJS.Timeout => {
  const prune = () =>
    pruneRowChanges(pool, retentionDays).then(
      (pruned) => pruned > 0 && logger.info({ pruned, retentionDays }, 'pruned the change stream'),
      (error: Error) => logger.warn({ err: { message: error.message } }, 'pruning the change stream failed'),
    );
  void prune();
  const timer = setInterval(prune, hourMs);
  timer.unref();
  return timer;
};

export interface ServeOptions {
  /** Subscribers to run in this process (`--subscribers <module>`). */
  subscribers?: readonly Subscriber[];
  /**
   * Project the log in this process too (the default). Off, the process only answers HTTP, and
   * `payfold project` processes keep the tables up to date.
   */
  projections?: boolean;
}

/**
 * `payfold serve`: open the database, migrate under the advisory lock, then answer HTTP and
 * project the log. `close` stops taking requests first, so every answered webhook is committed.
 */
export const startPayfold = async (
  config: PayfoldConfig,
  logger: Logger,
  options: ServeOptions = {},
): Promise<RunningPayfold> => {
  const payfold = await openPayfold(config, logger, { poolSize: 20, statusReads: true });
  const { database, pool, log, operations } = payfold;
  const status = payfold.status as NonNullable<typeof payfold.status>;
  // Before anything listens or projects: a refusal leaves nothing half started.
  await requireChangeStreamFor(pool, options.subscribers ?? []).catch(async (error: Error) => {
    await payfold.close();
    throw error;
  });
  const metrics = createMetrics({
    headPosition: () => status.log.headPosition(),
    projectionStatuses: () => operations.projections.statuses(),
    oldestTransactionSeconds: () => serverChecks(status.pool).oldestTransactionSeconds(),
  });
  // Any number of processes may serve; each projection is applied by the one that leads it.
  const runner = new ProjectionRunner({
    pool,
    log,
    projectors,
    logger,
    metrics: metrics.projections,
    leadership: {},
  });
  const subscribers = new SubscriberRunner({ pool, logger, subscribers: options.subscribers ?? [] });
  const { stripe } = operations;
  await prepareStripeConnections(config, logger, stripe);
  const app = buildHttpApp({
    logger,
    version: packageVersion,
    health: { readiness: async () => ({ parkedEntries: await serverChecks(status.pool).parkedEntries() }) },
    metrics: { metricsText: metrics.text },
    webhooks: {
      ingest: (request) =>
        ingestStripeWebhook(request, {
          log,
          verifySignature: verifyStripeSignature,
          metrics: metrics.webhooks,
          // The environment's own secrets, and the managed endpoint's (PAYFOLD_PUBLIC_URL).
          webhookSecrets: async (environment) => [
            ...config.webhookSecrets[environment],
            ...(await stripe.connections.webhookSecrets(environment)),
          ],
          recordRedelivery: recordWebhookRedelivery(pool),
        }),
      rejected: metrics.webhooks.rejected,
    },
    sessions: {
      verifyUserToken: userTokenVerifier({
        secret: config.jwtSecret,
        jwksUrl: config.jwksUrl,
        audience: config.jwtAudience,
        issuer: config.jwtIssuer,
        maxAgeSeconds: config.jwtMaxAgeSeconds,
      }),
      checkoutSessions: stripe.checkoutSessions,
      portalSessions: stripe.portalSessions,
    },
    dashboard: { directory: path.join(packageRoot, 'dist', 'dashboard') },
    admin: {
      adminToken: config.adminToken,
      operations,
      rejectedWebhooks: metrics.rejectedWebhooks,
    },
  });
  // A port taken by another process: nothing is left running behind the one line that says so.
  const url = await app.listen({ port: config.port, host: config.host }).catch(async (error: unknown) => {
    await app.close();
    await payfold.close();
    throw error;
  });
  const projecting = options.projections ?? true;
  if (projecting) {
    await runner.start();
    rebuildOutdated(operations.projections, logger);
  }
  await subscribers.start();
  const pruning = keepRowChangesPruned(pool, logger, config.rowChangesRetentionDays);
  logger.info({ url, embeddedPostgres: database.embedded, projections: projecting }, 'payfold is serving');
  return {
    app,
    url,
    databaseUrl: database.url,
    runner,
    close: async () => {
      await app.close();
      clearInterval(pruning);
      await subscribers.stop();
      await runner.stop();
      await payfold.close();
    },
  };
};

/**
 * `payfold project`: the projections without HTTP, for deployments that run the webhook door
 * (`payfold serve --no-projections`) and the projections in separate processes. Several can run
 * side by side: each batch locks its projection's checkpoint.
 */
export const startProjections = async (
  config: PayfoldConfig,
  logger: Logger,
): Promise<{ runner: ProjectionRunner; close(): Promise<void> }> => {
  // A connection per projection, one for the leadership locks, one for the log's notifications.
  const payfold = await openPayfold(config, logger, { poolSize: projectors.length + 3 });
  const runner = new ProjectionRunner({
    pool: payfold.pool,
    log: payfold.log,
    projectors,
    logger,
    leadership: {},
  });
  await runner.start();
  rebuildOutdated(payfold.operations.projections, logger);
  logger.info({ projections: projectors.map((projector) => projector.name) }, 'payfold is projecting');
  return {
    runner,
    close: async () => {
      await runner.stop();
      await payfold.close();
    },
  };
};
