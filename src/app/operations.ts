import type { Environment } from '../domain/environment.js';
import type { EventLog } from '../ports/event-log.js';
import type { PaymentsReads } from '../ports/payments-reads.js';
import type { SyncCursor } from '../ports/stores.js';
import type { ProjectionEngine, ProjectionsReport } from '../projections/engine/index.js';
import type { ChangeStream, ReplayFrom, SubscriberStatus } from '../subscribers/index.js';
import type { StripeAccess } from './stripe-access.js';
import type { StripeConnectionStatus } from './stripe-connections/index.js';

/** Where Payfold stands: `payfold status` and `GET /api/admin/payments/status`. */
export interface PayfoldStatus extends ProjectionsReport {
  connections: StripeConnectionStatus[];
  syncs: { test: SyncCursor[]; live: SyncCursor[] };
  /** When the last webhook of each environment arrived (null: none yet). */
  lastWebhooks: Record<Environment, Date | null>;
  logHeadPosition: number;
  changeStream: 'on' | 'off';
}

/** The subscribers that have run on this database, and their replay. */
export interface SubscriberOperations {
  list(): Promise<SubscriberStatus[]>;
  /**
   * Moves a subscriber's checkpoint back so that it delivers again from a log position or a time;
   * how many changes lie ahead of it, or undefined when no subscriber of that name has run here.
   */
  replay(subscriber: string, from: ReplayFrom): Promise<number | undefined>;
}

/**
 * What an operator can do with Payfold, the same for every shell: the `payfold` commands and the
 * admin routes call these and nothing else. `src/main` makes them for a database.
 */
export interface PayfoldOperations {
  projections: ProjectionEngine;
  stripe: StripeAccess;
  /** What the tables hold, for the dashboard's pages and the list commands. */
  reads: PaymentsReads;
  changeStream: ChangeStream;
  subscribers: SubscriberOperations;
  /** The connections, the latest syncs, the last webhooks, the log head, the change stream and each projection. */
  status(options?: { parkedEntries?: number }): Promise<PayfoldStatus>;
}

export interface PayfoldOperationsDeps extends Omit<PayfoldOperations, 'status'> {
  log: EventLog;
}

/**
 * A connection's webhooks as status shows them: without a managed endpoint, the forwarding advice
 * only while no delivery has come (deliveries arriving mean they are forwarded already).
 */
const withDeliveries = (
  connection: StripeConnectionStatus,
  lastWebhook: Date | null,
): StripeConnectionStatus =>
  connection.webhook.managed || !lastWebhook
    ? connection
    : {
        ...connection,
        webhook: {
          managed: false,
          message: `deliveries arriving (the last at ${lastWebhook.toISOString()}); PAYFOLD_PUBLIC_URL would make a managed endpoint`,
        },
      };

export const payfoldOperations = ({ log, ...operations }: PayfoldOperationsDeps): PayfoldOperations => ({
  ...operations,
  async status(options = {}) {
    const { stripe, changeStream, projections, reads } = operations;
    const lastWebhooks = await reads.lastWebhooks();
    return {
      connections: (await stripe.connections.list()).map((connection) =>
        withDeliveries(connection, lastWebhooks[connection.environment]),
      ),
      syncs: { test: await stripe.syncs('test'), live: await stripe.syncs('live') },
      lastWebhooks,
      logHeadPosition: Number(await log.headPosition()),
      changeStream: (await changeStream.isOn()) ? 'on' : 'off',
      ...(await projections.report(options.parkedEntries)),
    };
  },
});
