import type pg from 'pg';
import type { Logger } from 'pino';
import { reconcileStore } from '../adapters/postgres/reconcile-store.js';
import { sessionRequestsStore } from '../adapters/postgres/session-requests.js';
import { stripeConnectionsStore } from '../adapters/postgres/stripe-connections.js';
import { type SyncCursor, stripeSyncCursorsStore } from '../adapters/postgres/stripe-sync-cursors.js';
import { StripeGateway } from '../adapters/stripe/gateway.js';
import type { Environment } from '../domain/environment.js';
import type { EventLog } from '../domain/event-log.js';
import type { SyncObjectKind } from '../domain/sync-kinds.js';
import { type Catalog, catalog } from './catalog.js';
import { type CheckoutSessions, checkoutSessions } from './checkout-sessions.js';
import { type PortalSessions, portalSessions } from './portal-sessions.js';
import { type ReconcileResult, reconcileStripe } from './reconcile.js';
import { type ConnectResult, type StripeConnections, stripeConnections } from './stripe-connections.js';
import { type SyncProgress, type SyncResult, syncStripe } from './sync-stripe.js';

/** What Payfold does with Stripe over this database, every call through one gateway. */
export interface StripeAccess {
  connections: StripeConnections;
  catalog: Catalog;
  checkoutSessions: CheckoutSessions;
  portalSessions: PortalSessions;
  /** Where each kind of object stands in the environment's latest sync. */
  syncs(environment: Environment): Promise<SyncCursor[]>;
  /**
   * Connects a key; a newly connected account's first full sync then runs at once, awaited
   * (`firstSync: 'wait'`, the CLI) or in the background (the admin API, which answers first).
   */
  connect(
    environment: Environment,
    secretKey: string,
    options: { force?: boolean; firstSync: 'wait' | 'background' },
  ): Promise<ConnectResult & { firstSync?: SyncResult | 'started' }>;
  /** Finds, and without `dryRun` repairs, what differs between the tables and Stripe. */
  reconcile(environment: Environment, dryRun: boolean): Promise<ReconcileResult>;
  sync(
    environment: Environment,
    kinds?: readonly SyncObjectKind[],
    onProgress?: (progress: SyncProgress) => void,
  ): Promise<SyncResult>;
}

export interface StripeAccessOptions {
  pool: pg.Pool;
  log: EventLog;
  /** The log is `payfold.events` in `pool`'s database (a session request's row and entry then commit together). */
  logInDatabase: boolean;
  logger: Logger;
  /** The master key, then the previous one during a rotation. */
  masterKeys: readonly Buffer[];
  /** `STRIPE_API_BASE`: the emulator in development and tests. */
  apiBase?: string;
  /** `PAYFOLD_PUBLIC_URL`: connected accounts get a managed webhook endpoint. */
  publicUrl?: string;
  /** Requests a second to Stripe per environment, instead of the gateway's defaults. */
  requestsPerSecond?: number;
  /** Retries of a call after a 429, a 5xx or a lost connection, instead of the gateway's default. */
  maxRetries?: number;
}

export const openStripeAccess = ({
  pool,
  log,
  logInDatabase,
  logger,
  masterKeys,
  apiBase,
  publicUrl,
  requestsPerSecond,
  maxRetries,
}: StripeAccessOptions): StripeAccess => {
  const gateway = new StripeGateway({
    logger,
    apiBase,
    maxRetries,
    ...(requestsPerSecond && { requestsPerSecond: { test: requestsPerSecond, live: requestsPerSecond } }),
  });
  const connections = stripeConnections({
    store: stripeConnectionsStore(pool),
    gateway,
    log,
    masterKeys,
    publicUrl,
  });
  const cursors = stripeSyncCursorsStore(pool);
  const sessions = {
    connections,
    gateway,
    log,
    store: sessionRequestsStore(pool, logInDatabase ? undefined : log),
  };
  const sync: StripeAccess['sync'] = (environment, kinds, onProgress) =>
    syncStripe({ connections, gateway, cursors, log }, environment, kinds, onProgress);
  return {
    connections,
    catalog: catalog({ connections, gateway, log }),
    checkoutSessions: checkoutSessions(sessions),
    portalSessions: portalSessions(sessions),
    sync,
    reconcile: (environment, dryRun) =>
      reconcileStripe(
        { connections, gateway, cursors, log, pool, logger, store: reconcileStore(pool) },
        environment,
        dryRun,
      ),
    syncs: (environment) => cursors.all(environment),
    async connect(environment, secretKey, { force = false, firstSync }) {
      const result = await connections.connect(environment, secretKey, force);
      if (!result.ok || !result.newAccount) return result;
      if (firstSync === 'wait') return { ...result, firstSync: await sync(environment) };
      void sync(environment).then(
        (synced) =>
          synced.ok
            ? logger.info({ environment, seconds: synced.summary.seconds }, 'first sync done')
            : logger.warn({ environment, reason: synced.message }, 'first sync failed'),
        (error: Error) => logger.error({ environment, err: { message: error.message } }, 'first sync failed'),
      );
      return { ...result, firstSync: 'started' };
    },
  };
};
