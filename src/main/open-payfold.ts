import type { Logger } from 'pino';
import { EventStoreDbEventLog } from '../adapters/eventstoredb/event-log.js';
import { PostgresEventLog } from '../adapters/postgres/event-log.js';
import { runMigrations } from '../adapters/postgres/migrations.js';
import { paymentsReads } from '../adapters/postgres/payments-reads.js';
import { createPool, type Pool } from '../adapters/postgres/pool.js';
import { reconcileStore } from '../adapters/postgres/reconcile-store.js';
import { serverChecks } from '../adapters/postgres/server-checks.js';
import { sessionRequestsStore } from '../adapters/postgres/session-requests.js';
import { stripeConnectionsStore } from '../adapters/postgres/stripe-connections.js';
import { stripeSyncCursorsStore } from '../adapters/postgres/stripe-sync-cursors.js';
import { secretBox } from '../adapters/secret-box.js';
import { StripeGateway } from '../adapters/stripe/gateway.js';
import { type PayfoldOperations, payfoldOperations } from '../app/operations.js';
import { stripeAccess } from '../app/stripe-access.js';
import type { EventLog } from '../ports/event-log.js';
import { projectionEngine } from '../projections/engine/index.js';
import { projectors } from '../projections/index.js';
import { changeStream, replaySubscriber, subscriberStatuses } from '../subscribers/index.js';
import { ConfigError, type PayfoldConfig } from './config.js';
import { openDatabase, type PayfoldDatabase } from './database.js';

/**
 * Stripe's payloads are UTF-8: a database that stores text in another encoding would refuse some
 * of them at the door (a 500 for a valid event), so it is refused at start instead.
 */
const requireUtf8 = async (pool: Pool): Promise<void> => {
  const encoding = await serverChecks(pool).serverEncoding();
  if (encoding !== 'UTF8') {
    throw new ConfigError(
      `Invalid configuration: DATABASE_URL: the database's encoding is ${encoding}; Payfold needs UTF8 (create it with ENCODING 'UTF8')`,
    );
  }
};

/**
 * Migrations as the schemas' owner: through `PAYFOLD_MIGRATION_DATABASE_URL` when it is set, and
 * then the serving role gets what serving needs; through the serving pool otherwise, with a
 * warning, since a role that owns the log could disable its append-only trigger.
 */
const migrate = async (
  config: PayfoldConfig,
  pool: Pool,
  logger: Logger,
  embedded: boolean,
): Promise<void> => {
  if (config.migrationDatabaseUrl) {
    const owner = createPool(config.migrationDatabaseUrl, { max: 1, applicationName: 'payfold-migrate' });
    try {
      await requireUtf8(owner);
      const applied = await runMigrations(owner);
      if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
      await serverChecks(owner).grantServingRole(await serverChecks(pool).currentRole());
    } finally {
      await owner.end();
    }
    return;
  }
  const applied = await runMigrations(pool);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
  // An embedded cluster is Payfold's alone; a shared server deserves the warning.
  if (!embedded && (await serverChecks(pool).ownsTheLog())) {
    logger.warn(
      'the role serving traffic owns payfold.events and could disable its append-only trigger: set PAYFOLD_MIGRATION_DATABASE_URL to the owner and DATABASE_URL to a serving role (README "Least privilege")',
    );
  }
};

/**
 * The log: Postgres's `payfold.events`, or EventStoreDB/KurrentDB with `PAYFOLD_EVENT_STORE=esdb://…`
 * (checkpoints, tables and everything else stay in Postgres).
 */
export const openEventLog = (config: PayfoldConfig, pool: Pool, databaseUrl: string): EventLog =>
  config.eventStore === 'postgres'
    ? new PostgresEventLog(pool, databaseUrl, { appendDeadlineMs: config.appendTimeoutMs })
    : new EventStoreDbEventLog(config.eventStore);

/** Health, metrics and status read through a pool of their own (see `openPayfold`). */
export interface StatusReads {
  pool: Pool;
  log: EventLog;
}

/** Payfold over one database: its pool, its log, and the operations every shell calls. */
export interface OpenPayfold {
  database: PayfoldDatabase;
  pool: Pool;
  log: EventLog;
  /** With `statusReads`: the pool and log status, health and metrics read through. */
  status: StatusReads | undefined;
  operations: PayfoldOperations;
  close(): Promise<void>;
}

export interface OpenPayfoldOptions {
  poolSize: number;
  /** A command that only reads: without DATABASE_URL, an embedded cluster must be there already. */
  readOnly?: boolean;
  /**
   * Give health, metrics and status a pool of their own, two connections whose statements are cut
   * off after 2 s: a scraper or a probe can never take the connections webhooks need.
   */
  statusReads?: boolean;
}

/**
 * Opens the database (the embedded one when `DATABASE_URL` is unset), migrates it under the
 * advisory lock, and builds everything on it: the stores, the gateway to Stripe, the projection
 * engine and the operations. The one place objects are made and wired.
 */
export const openPayfold = async (
  config: PayfoldConfig,
  logger: Logger,
  options: OpenPayfoldOptions,
): Promise<OpenPayfold> => {
  const database = await openDatabase(
    config,
    (line) => logger.debug({ postgres: line }, 'embedded postgres'),
    { mustExist: options.readOnly === true },
  );
  const pool = createPool(database.url, { max: options.poolSize });
  try {
    await requireUtf8(pool);
    await migrate(config, pool, logger, database.embedded);
  } catch (error) {
    await pool.end();
    await database.stop();
    throw error;
  }
  const log = openEventLog(config, pool, database.url);
  const statusPool = options.statusReads
    ? createPool(database.url, { max: 2, statementTimeoutMs: 2000, applicationName: 'payfold-status' })
    : undefined;
  const status = statusPool && { pool: statusPool, log: openEventLog(config, statusPool, database.url) };
  const projections = projectionEngine({ pool, log, logger, projectors, ...(status && { status }) });
  const stripe = stripeAccess({
    log,
    logger,
    gateway: new StripeGateway({
      logger,
      apiBase: config.stripeApiBase,
      maxRetries: config.stripeMaxRetries,
      ...(config.stripeRequestsPerSecond && {
        requestsPerSecond: { test: config.stripeRequestsPerSecond, live: config.stripeRequestsPerSecond },
      }),
    }),
    secrets: secretBox([database.masterKey, ...(config.previousMasterKey ? [config.previousMasterKey] : [])]),
    stores: {
      connections: stripeConnectionsStore(pool),
      syncCursors: stripeSyncCursorsStore(pool),
      // With the log in Postgres, a session request's row and entry commit together.
      sessionRequests: sessionRequestsStore(pool, config.eventStore === 'postgres' ? undefined : log),
      reconcile: reconcileStore(pool),
    },
    projections,
    publicUrl: config.publicUrl,
  });
  const operations = payfoldOperations({
    log,
    projections,
    stripe,
    // The dashboard's reads go through the status pool when there is one: never webhooks' connections.
    reads: paymentsReads(status?.pool ?? pool),
    changeStream: changeStream(pool),
    subscribers: {
      list: () => subscriberStatuses(pool),
      replay: (subscriber, from) => replaySubscriber(pool, subscriber, from),
    },
  });
  return {
    database,
    pool,
    log,
    status,
    operations,
    close: async () => {
      await log.close();
      await status?.log.close();
      await status?.pool.end();
      await pool.end();
      await database.stop();
    },
  };
};

/**
 * Runs `work` with Payfold's operations over the configured database, then closes everything.
 * `work` is told which database it is (`the embedded Postgres under …`, or the URL without its
 * password).
 */
export const withPayfold = async <T>(
  config: PayfoldConfig,
  logger: Logger,
  work: (operations: PayfoldOperations, database: PayfoldDatabase) => Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> => {
  // A rebuild (rebuild, reconcile) holds its lock, a transaction per projection it builds (two from
  // one read of the log in a pool of six) and the log's reads at once, and settling after an append
  // a leadership lock and a batch per projection.
  const payfold = await openPayfold(config, logger, { poolSize: 6, ...options });
  try {
    return await work(payfold.operations, payfold.database);
  } finally {
    await payfold.close();
  }
};

/** `payfold migrate`: the migrations alone. */
export const migrateDatabase = async (
  config: PayfoldConfig,
): Promise<{ applied: number[]; database: PayfoldDatabase }> => {
  const database = await openDatabase(config);
  const pool = createPool(database.url, { max: 1 });
  try {
    await requireUtf8(pool);
    return { applied: await runMigrations(pool), database };
  } finally {
    await pool.end();
    await database.stop();
  }
};
