import type { EventLog } from '../ports/event-log.js';
import type { SyncCursor } from '../ports/stores.js';
import type { ProjectionEngine, ProjectionsReport } from '../projections/engine/index.js';
import type { ChangeStream, ReplayFrom } from '../subscribers/index.js';
import type { StripeAccess } from './stripe-access.js';
import type { StripeConnectionStatus } from './stripe-connections/index.js';

/** Where Payfold stands: `payfold status` and `GET /api/admin/payments/status`. */
export interface PayfoldStatus extends ProjectionsReport {
  connections: StripeConnectionStatus[];
  syncs: { test: SyncCursor[]; live: SyncCursor[] };
  logHeadPosition: number;
  changeStream: 'on' | 'off';
}

/**
 * What an operator can do with Payfold, the same for every shell: the `payfold` commands and the
 * admin routes call these and nothing else. `src/main` makes them for a database.
 */
export interface PayfoldOperations {
  projections: ProjectionEngine;
  stripe: StripeAccess;
  changeStream: ChangeStream;
  /**
   * Moves a subscriber's checkpoint back so that it delivers again from a log position or a time;
   * how many changes lie ahead of it, or undefined when no subscriber of that name has run here.
   */
  replaySubscriber(subscriber: string, from: ReplayFrom): Promise<number | undefined>;
  /** The connections, the latest syncs, the log head, the change stream and each projection. */
  status(options?: { parkedEntries?: number }): Promise<PayfoldStatus>;
}

export interface PayfoldOperationsDeps extends Omit<PayfoldOperations, 'status'> {
  log: EventLog;
}

export const payfoldOperations = ({ log, ...operations }: PayfoldOperationsDeps): PayfoldOperations => ({
  ...operations,
  async status(options = {}) {
    const { stripe, changeStream, projections } = operations;
    return {
      connections: await stripe.connections.list(),
      syncs: { test: await stripe.syncs('test'), live: await stripe.syncs('live') },
      logHeadPosition: Number(await log.headPosition()),
      changeStream: (await changeStream.isOn()) ? 'on' : 'off',
      ...(await projections.report(options.parkedEntries)),
    };
  },
});
