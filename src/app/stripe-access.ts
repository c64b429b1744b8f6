import type { Logger } from 'pino';
import type { Environment } from '../domain/environment.js';
import type { SyncObjectKind } from '../domain/sync-kinds.js';
import type { EventLog } from '../ports/event-log.js';
import type {
  ReconcileStore,
  SecretBox,
  SessionRequestsStore,
  StripeConnectionsStore,
  StripeSyncCursorsStore,
  SyncCursor,
} from '../ports/stores.js';
import type { StripeGateway } from '../ports/stripe.js';
import type { ProjectionEngine } from '../projections/engine/index.js';
import { type Catalog, catalog } from './catalog.js';
import { type CheckoutSessions, checkoutSessions } from './checkout-sessions.js';
import { type PortalSessions, portalSessions } from './portal-sessions.js';
import { type ReconcileResult, reconcileStripe } from './reconcile.js';
import { type ConnectResult, type StripeConnections, stripeConnections } from './stripe-connections/index.js';
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

export interface StripeAccessDeps {
  log: EventLog;
  logger: Logger;
  /** The one way to Stripe (`src/adapters/stripe/gateway.ts`). */
  gateway: StripeGateway;
  /** Seals the stored keys and signing secrets under the master key. */
  secrets: SecretBox;
  stores: {
    connections: StripeConnectionsStore;
    syncCursors: StripeSyncCursorsStore;
    sessionRequests: SessionRequestsStore;
    reconcile: ReconcileStore;
  };
  /** For reconcile: the tables caught up, compared, rebuilt. */
  projections: ProjectionEngine;
  /** `PAYFOLD_PUBLIC_URL`: connected accounts get a managed webhook endpoint. */
  publicUrl?: string | undefined;
}

/** What Payfold does with Stripe, every call through one gateway, over the stores it is given. */
export const stripeAccess = ({
  log,
  logger,
  gateway,
  secrets,
  stores,
  projections,
  publicUrl,
}: StripeAccessDeps): StripeAccess => {
  const connections = stripeConnections({ store: stores.connections, gateway, log, secrets, publicUrl });
  const cursors = stores.syncCursors;
  const sessions = { connections, gateway, log, store: stores.sessionRequests };
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
        { connections, gateway, cursors, log, projections, store: stores.reconcile },
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
