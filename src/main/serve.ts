import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { PostgresEventLog } from '../adapters/postgres/event-log.js';
import { runMigrations } from '../adapters/postgres/migrations.js';
import { createPool } from '../adapters/postgres/pool.js';
import { ingestStripeWebhook } from '../app/ingest-stripe-webhook.js';
import { buildHttpApp } from '../http/app.js';
import { projectors } from '../projections/index.js';
import { ProjectionRunner } from '../projections/runner.js';
import { projectionStatuses, projectionsReport } from '../projections/status.js';
import type { PayfoldConfig } from './config.js';
import { openDatabase } from './database.js';
import { createMetrics } from './metrics.js';

export interface RunningPayfold {
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  databaseUrl: string;
  runner: ProjectionRunner;
  close(): Promise<void>;
}

/** The database, migrated under the advisory lock, with a pool and the event log on it. */
const openMigratedLog = async (config: PayfoldConfig, logger: Logger, poolSize: number) => {
  const database = await openDatabase(config, (line) =>
    logger.debug({ postgres: line }, 'embedded postgres'),
  );
  const pool = createPool(database.url, { max: poolSize });
  try {
    const applied = await runMigrations(pool);
    if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
  } catch (error) {
    await pool.end();
    await database.stop();
    throw error;
  }
  return { database, pool, log: new PostgresEventLog(pool, database.url) };
};

export interface ServeOptions {
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
  const { database, pool, log } = await openMigratedLog(config, logger, 20);
  const metrics = createMetrics({
    headPosition: () => log.headPosition(),
    projectionStatuses: () => projectionStatuses(pool, log),
  });
  const runner = new ProjectionRunner({ pool, log, projectors, logger, metrics: metrics.projections });
  const app = buildHttpApp({
    logger,
    ingestStripeWebhook: (request) =>
      ingestStripeWebhook(request, {
        log,
        metrics: metrics.webhooks,
        webhookSecrets: async (environment) => config.webhookSecrets[environment],
      }),
    webhookRejected: metrics.webhooks.rejected,
    checkDatabase: async () => {
      await pool.query('select 1');
    },
    metricsText: metrics.text,
    projectionsReport: () => projectionsReport(pool, log),
    adminToken: config.adminToken,
  });
  const url = await app.listen({ port: config.port, host: config.host });
  const projecting = options.projections ?? true;
  if (projecting) await runner.start();
  logger.info({ url, embeddedPostgres: database.embedded, projections: projecting }, 'payfold is serving');
  return {
    app,
    url,
    databaseUrl: database.url,
    runner,
    close: async () => {
      await app.close();
      await log.close();
      await runner.stop();
      await pool.end();
      await database.stop();
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
  const { database, pool, log } = await openMigratedLog(config, logger, 4);
  const runner = new ProjectionRunner({ pool, log, projectors, logger });
  await runner.start();
  logger.info({ projections: projectors.map((projector) => projector.name) }, 'payfold is projecting');
  return {
    runner,
    close: async () => {
      await log.close();
      await runner.stop();
      await pool.end();
      await database.stop();
    },
  };
};

/** `payfold status`: where each projection stands, on the configured database. */
export const readStatus = async (config: PayfoldConfig) => {
  const database = await openDatabase(config);
  const pool = createPool(database.url, { max: 2 });
  try {
    await runMigrations(pool);
    const log = new PostgresEventLog(pool, database.url);
    try {
      return {
        logHeadPosition: Number(await log.headPosition()),
        ...(await projectionsReport(pool, log, 10)),
      };
    } finally {
      await log.close();
    }
  } finally {
    await pool.end();
    await database.stop();
  }
};

/** `payfold migrate`: the migrations alone. */
export const migrateDatabase = async (config: PayfoldConfig): Promise<number[]> => {
  const database = await openDatabase(config);
  const pool = createPool(database.url, { max: 1 });
  try {
    return await runMigrations(pool);
  } finally {
    await pool.end();
    await database.stop();
  }
};
