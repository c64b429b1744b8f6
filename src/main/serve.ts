import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { EventStoreDbEventLog } from '../adapters/eventstoredb/event-log.js';
import { PostgresEventLog } from '../adapters/postgres/event-log.js';
import { runMigrations } from '../adapters/postgres/migrations.js';
import { paymentsReads, recordWebhookRedelivery } from '../adapters/postgres/payments-reads.js';
import { createPool } from '../adapters/postgres/pool.js';
import { userTokenVerifier } from '../adapters/user-tokens.js';
import { ingestStripeWebhook } from '../app/ingest-stripe-webhook.js';
import { openStripeAccess, type StripeAccess, type StripeAccessOptions } from '../app/stripe-access.js';
import { type EventLog, logStart } from '../domain/event-log.js';
import { buildHttpApp } from '../http/app.js';
import { projectors } from '../projections/index.js';
import { type RetrySummary, retryParkedEntries } from '../projections/parked.js';
import {
  outdatedProjections,
  type RebuildProgress,
  type RebuildSummary,
  rebuildProjections,
} from '../projections/rebuild.js';
import { ProjectionRunner } from '../projections/runner.js';
import { projectionStatuses, projectionsReport } from '../projections/status.js';
import {
  changeStreamIsOn,
  defineSubscriber,
  pruneRowChanges,
  type ReplayFrom,
  replaySubscriber,
  requireChangeStreamFor,
  type Subscriber,
  SubscriberRunner,
  switchChangeStream,
} from '../projections/subscribers.js';
import { ConfigError, type PayfoldConfig } from './config.js';
import { openDatabase } from './database.js';
import { createMetrics } from './metrics.js';
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
 * Stripe's payloads are UTF-8: a database that stores text in another encoding would refuse some
 * of them at the door (a 500 for a valid event), so it is refused at start instead.
 */
const requireUtf8 = async (pool: pg.Pool): Promise<void> => {
  const { rows } = await pool.query<{ server_encoding: string }>('show server_encoding');
  const encoding = rows[0]?.server_encoding;
  if (encoding !== 'UTF8') {
    throw new ConfigError(
      `Invalid configuration: DATABASE_URL: the database's encoding is ${encoding}; Payfold needs UTF8 (create it with ENCODING 'UTF8')`,
    );
  }
};

/** Readers of the log wait for every transaction older than the entries they read (see the README). */
const oldestTransactionSql = `
  select coalesce(extract(epoch from now() - min(xact_start)), 0)::float8 as seconds
  from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null`;

const statements = {
  currentUser: 'select current_user as role',
  grantServingRole: 'select payfold.grant_serving_role($1)',
  ownsTheLog: `
    select pg_get_userbyid(relowner) = current_user as owns from pg_class where oid = 'payfold.events'::regclass`,
} as const;

/**
 * Migrations as the schemas' owner: through `PAYFOLD_MIGRATION_DATABASE_URL` when it is set, and
 * then the serving role gets what serving needs; through the serving pool otherwise, with a
 * warning, since a role that owns the log could disable its append-only trigger.
 */
const migrate = async (
  config: PayfoldConfig,
  pool: pg.Pool,
  logger: Logger,
  embedded: boolean,
): Promise<void> => {
  if (config.migrationDatabaseUrl) {
    const owner = createPool(config.migrationDatabaseUrl, { max: 1, applicationName: 'payfold-migrate' });
    try {
      await requireUtf8(owner);
      const applied = await runMigrations(owner);
      if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
      const { rows } = await pool.query<{ role: string }>(statements.currentUser);
      await owner.query(statements.grantServingRole, [rows[0]?.role]);
    } finally {
      await owner.end();
    }
    return;
  }
  const applied = await runMigrations(pool);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
  // An embedded cluster is Payfold's alone; a shared server deserves the warning.
  if (embedded) return;
  const { rows } = await pool.query<{ owns: boolean }>(statements.ownsTheLog);
  if (rows[0]?.owns) {
    logger.warn(
      'the role serving traffic owns payfold.events and could disable its append-only trigger: set PAYFOLD_MIGRATION_DATABASE_URL to the owner and DATABASE_URL to a serving role (README "Least privilege")',
    );
  }
};

/**
 * The log: Postgres's `payfold.events`, or EventStoreDB/KurrentDB with `PAYFOLD_EVENT_STORE=esdb://…`
 * (checkpoints, tables and everything else stay in Postgres).
 */
const openEventLog = (config: PayfoldConfig, pool: pg.Pool, databaseUrl: string): EventLog =>
  config.eventStore === 'postgres'
    ? new PostgresEventLog(pool, databaseUrl, { appendDeadlineMs: config.appendTimeoutMs })
    : new EventStoreDbEventLog(config.eventStore);

/** The database, migrated under the advisory lock, with a pool and the event log on it. */
const openMigratedLog = async (config: PayfoldConfig, logger: Logger, poolSize: number) => {
  const database = await openDatabase(config, (line) =>
    logger.debug({ postgres: line }, 'embedded postgres'),
  );
  const pool = createPool(database.url, { max: poolSize });
  try {
    await requireUtf8(pool);
    await migrate(config, pool, logger, database.embedded);
  } catch (error) {
    await pool.end();
    await database.stop();
    throw error;
  }
  return {
    database,
    pool,
    log: openEventLog(config, pool, database.url),
  };
};

const stripeAccessOptions = (
  config: PayfoldConfig,
  logger: Logger,
  pool: pg.Pool,
  log: EventLog,
  masterKey: Buffer,
): StripeAccessOptions => ({
  pool,
  log,
  logInDatabase: config.eventStore === 'postgres',
  logger,
  masterKeys: [masterKey, ...(config.previousMasterKey ? [config.previousMasterKey] : [])],
  apiBase: config.stripeApiBase,
  publicUrl: config.publicUrl,
  requestsPerSecond: config.stripeRequestsPerSecond,
  maxRetries: config.stripeMaxRetries,
});

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
const rebuildOutdated = (pool: pg.Pool, log: EventLog, logger: Logger): void => {
  void outdatedProjections(pool, projectors)
    .then(async (outdated) => {
      if (outdated.length === 0) return;
      logger.info(
        { projections: outdated.map((projector) => projector.name) },
        'projector code changed: rebuilding',
      );
      await rebuildProjections({ pool, log, logger, projectors: outdated, reason: 'version' });
    })
    .catch((error: Error) =>
      logger.error(
        { err: { message: error.message } },
        'rebuild after a projector change failed; it runs again at the next start',
      ),
    );
};

/** The projections named (all of them when none is), or the one line saying which name is unknown. */
export const projectorsNamed = (names: readonly string[] | undefined) => {
  const unknown = names?.find((name) => !projectors.some((projector) => projector.name === name));
  if (unknown) {
    return {
      ok: false as const,
      message: `no projection is called ${unknown}; there are ${projectors.map((projector) => projector.name).join(', ')}`,
    };
  }
  return {
    ok: true as const,
    projectors:
      names && names.length > 0
        ? projectors.filter((projector) => names.includes(projector.name))
        : projectors,
  };
};

/** `payfold rebuild`: rebuilds projections without downtime (see `src/projections/rebuild.ts`). */
export const rebuildTables = async (
  config: PayfoldConfig,
  logger: Logger,
  options: {
    projections?: string[];
    quiet?: boolean;
    /** Told how many entries the log holds, before the first progress. */
    onStart?: (logEntries: number) => void;
    onProgress?: (progress: RebuildProgress) => void;
  },
): Promise<{ summaries: RebuildSummary[]; logEntries: number }> => {
  const named = projectorsNamed(options.projections);
  if (!named.ok) throw new Error(named.message);
  const { database, pool, log } = await openMigratedLog(config, logger, 4);
  try {
    const logEntries = await log.countEntriesAfter(logStart);
    options.onStart?.(logEntries);
    const summaries = await rebuildProjections({
      pool,
      log,
      logger,
      projectors: named.projectors,
      reason: 'command',
      quiet: options.quiet,
      onProgress: options.onProgress,
    });
    return { summaries, logEntries };
  } finally {
    await log.close();
    await pool.end();
    await database.stop();
  }
};

/** The module's own code, as Node gives it (ESM, or CommonJS under `default`) or jiti does. */
type LoadedModule = { subscribers?: unknown; default?: unknown };

/**
 * JavaScript of any kind (`.js` of either package type, `.mjs`, `.cjs`) is loaded by Node itself;
 * TypeScript (`.ts`, `.mts`, `.cts`) by jiti, which compiles it in memory, so the app needs no
 * build step and no loader of its own.
 */
const importAppModule = async (file: string): Promise<LoadedModule> => {
  if (!/\.[cm]?ts$/.test(file)) return import(pathToFileURL(file).href);
  const { createJiti } = await import('jiti');
  return createJiti(import.meta.url).import<LoadedModule>(file);
};

/**
 * `payfold serve --subscribers <module>`: the subscribers a module of the app's exports, as
 * `subscribers` (an array) or its default export (`module.exports = { subscribers }` in CommonJS).
 */
export const loadSubscribers = async (modulePath: string): Promise<Subscriber[]> => {
  const file = path.resolve(modulePath);
  if (!existsSync(file)) throw new Error(`--subscribers: ${modulePath} does not exist`);
  let loaded: LoadedModule;
  try {
    loaded = await importAppModule(file);
  } catch (error) {
    throw new Error(
      `--subscribers: ${modulePath} could not be loaded: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  const fromDefault = loaded.default as LoadedModule | undefined;
  const found = loaded.subscribers ?? fromDefault?.subscribers ?? fromDefault;
  if (!Array.isArray(found) || found.length === 0) {
    throw new Error(
      `--subscribers: ${modulePath} exports no subscribers: export them as \`export const subscribers = [defineSubscriber({…})]\` (or \`module.exports = { subscribers }\`), defineSubscriber from payfold/subscribers`,
    );
  }
  return found.map((subscriber) => defineSubscriber(subscriber as Subscriber));
};

/** `payfold projections retry`: applies parked entries again (see `retryParkedEntries`). */
export const retryParked = async (
  config: PayfoldConfig,
  logger: Logger,
  projections: string[] | undefined,
) => {
  const named = projectorsNamed(projections);
  if (!named.ok) throw new Error(named.message);
  const { database, pool, log } = await openMigratedLog(config, logger, 2);
  try {
    return await retryParkedEntries({ pool, log, logger, projectors: named.projectors });
  } finally {
    await log.close();
    await pool.end();
    await database.stop();
  }
};

/** `payfold replay`: moves a subscriber's checkpoint back (see `replaySubscriber`). */
export const replayChanges = async (
  config: PayfoldConfig,
  logger: Logger,
  subscriber: string,
  from: ReplayFrom,
) => {
  const { database, pool, log } = await openMigratedLog(config, logger, 2);
  try {
    return await replaySubscriber(pool, subscriber, from);
  } finally {
    await log.close();
    await pool.end();
    await database.stop();
  }
};

/**
 * `payfold change-stream [on|off]`: turns the capture of changes for subscribers on or off when
 * asked, and says whether it is on.
 */
export const changeStream = async (
  config: PayfoldConfig,
  logger: Logger,
  turnOn?: boolean,
): Promise<{ on: boolean }> => {
  const { database, pool, log } = await openMigratedLog(config, logger, 1);
  try {
    if (turnOn !== undefined) await switchChangeStream(pool, turnOn);
    return { on: await changeStreamIsOn(pool) };
  } finally {
    await log.close();
    await pool.end();
    await database.stop();
  }
};

const hourMs = 60 * 60 * 1000;

/** Prunes the change stream now and every hour: every process may, and deleting twice is harmless. */
const keepRowChangesPruned = (pool: pg.Pool, logger: Logger, retentionDays: number): NodeJS.Timeout => {
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
  const { database, pool, log } = await openMigratedLog(config, logger, 20);
  // Before anything listens or projects: a refusal leaves nothing half started.
  await requireChangeStreamFor(pool, options.subscribers ?? []).catch(async (error: Error) => {
    await log.close();
    await pool.end();
    await database.stop();
    throw error;
  });
  // Health, metrics and status ask through a pool of their own, two connections whose statements
  // are cut off after 2 s: a scraper or a probe can never take the connections webhooks need.
  const statusPool = createPool(database.url, {
    max: 2,
    statementTimeoutMs: 2000,
    applicationName: 'payfold-status',
  });
  const statusLog = openEventLog(config, statusPool, database.url);
  const metrics = createMetrics({
    headPosition: () => statusLog.headPosition(),
    projectionStatuses: () => projectionStatuses(statusPool, statusLog),
    oldestTransactionSeconds: async () => {
      const { rows } = await statusPool.query<{ seconds: number }>(oldestTransactionSql);
      return rows[0]?.seconds ?? 0;
    },
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
  const stripe = openStripeAccess(stripeAccessOptions(config, logger, pool, log, database.masterKey));
  await prepareStripeConnections(config, logger, stripe);
  const app = buildHttpApp({
    logger,
    ingestStripeWebhook: (request) =>
      ingestStripeWebhook(request, {
        log,
        metrics: metrics.webhooks,
        // The environment's own secrets, and the managed endpoint's (PAYFOLD_PUBLIC_URL).
        webhookSecrets: async (environment) => [
          ...config.webhookSecrets[environment],
          ...(await stripe.connections.webhookSecrets(environment)),
        ],
        recordRedelivery: recordWebhookRedelivery(pool),
      }),
    webhookRejected: metrics.webhooks.rejected,
    readiness: async () => {
      const { rows } = await statusPool.query<{ parked: number }>(
        'select count(*)::int as parked from payfold.projection_errors',
      );
      return { parkedEntries: rows[0]?.parked ?? 0 };
    },
    retryParkedEntries: (names) => {
      const named = projectorsNamed(names);
      if (!named.ok) return Promise.resolve(named);
      return retryParkedEntries({ pool, log, logger, projectors: named.projectors }).then(
        (summaries): { ok: true; summaries: RetrySummary[] } => ({ ok: true, summaries }),
      );
    },
    metricsText: metrics.text,
    projectionsReport: () => projectionsReport(statusPool, statusLog),
    rebuildProjections: (names, quiet) => {
      const named = projectorsNamed(names);
      if (!named.ok) return Promise.resolve(named);
      return rebuildProjections({
        pool,
        log,
        logger,
        projectors: named.projectors,
        reason: 'admin',
        quiet,
      }).then((summaries) => ({ ok: true as const, summaries }));
    },
    adminToken: config.adminToken,
    stripe,
    // The dashboard reads through the status pool: an admin's page can never starve webhooks.
    reads: paymentsReads(statusPool),
    rejectedWebhooks: metrics.rejectedWebhooks,
    dashboardDirectory: path.join(packageRoot, 'dist', 'dashboard'),
    version: packageVersion,
    verifyUserToken: userTokenVerifier({
      secret: config.jwtSecret,
      jwksUrl: config.jwksUrl,
      audience: config.jwtAudience,
      issuer: config.jwtIssuer,
      maxAgeSeconds: config.jwtMaxAgeSeconds,
    }),
  });
  const url = await app.listen({ port: config.port, host: config.host });
  const projecting = options.projections ?? true;
  if (projecting) {
    await runner.start();
    rebuildOutdated(pool, log, logger);
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
      await log.close();
      await statusLog.close();
      await subscribers.stop();
      await runner.stop();
      await statusPool.end();
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
  // A connection per projection, one for the leadership locks, one for the log's notifications.
  const { database, pool, log } = await openMigratedLog(config, logger, projectors.length + 3);
  const runner = new ProjectionRunner({ pool, log, projectors, logger, leadership: {} });
  await runner.start();
  rebuildOutdated(pool, log, logger);
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

/** Runs `work` with Stripe over the configured database, then closes everything. */
export const withStripeAccess = async <T>(
  config: PayfoldConfig,
  logger: Logger,
  work: (stripe: StripeAccess, pool: pg.Pool, log: EventLog) => Promise<T>,
): Promise<T> => {
  // Reconcile rebuilds: the rebuild's lock, its transaction and the log's reads each hold one.
  const { database, pool, log } = await openMigratedLog(config, logger, 4);
  try {
    return await work(
      openStripeAccess(stripeAccessOptions(config, logger, pool, log, database.masterKey)),
      pool,
      log,
    );
  } finally {
    await log.close();
    await pool.end();
    await database.stop();
  }
};

/** `payfold status`: the Stripe connections, the log head and where each projection stands. */
export const readStatus = (config: PayfoldConfig, logger: Logger) =>
  withStripeAccess(config, logger, async (stripe, pool, log) => ({
    connections: await stripe.connections.list(),
    syncs: { test: await stripe.syncs('test'), live: await stripe.syncs('live') },
    logHeadPosition: Number(await log.headPosition()),
    changeStream: (await changeStreamIsOn(pool)) ? ('on' as const) : ('off' as const),
    ...(await projectionsReport(pool, log, 10)),
  }));

/** `payfold migrate`: the migrations alone. */
export const migrateDatabase = async (config: PayfoldConfig): Promise<number[]> => {
  const database = await openDatabase(config);
  const pool = createPool(database.url, { max: 1 });
  try {
    await requireUtf8(pool);
    return await runMigrations(pool);
  } finally {
    await pool.end();
    await database.stop();
  }
};
