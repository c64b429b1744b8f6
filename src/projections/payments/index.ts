import type { PoolClient } from 'pg';
import { type LogEntry, logEntryType } from '../../domain/event-log.js';
import { sessionEntryType } from '../../domain/session-requests.js';
import { candidatesOfEntry } from '../../domain/stripe/candidates.js';
import { pairingOf } from '../../domain/stripe/pairings.js';
import type { Projector } from '../engine/index.js';
import { rebuildPayments } from './from-start.js';
import { recomputeRows } from './recompute.js';
import { paymentsProjectionStateTables, paymentsStore } from './store.js';
import { foldCustomerMappings } from './tables/customer-mappings.js';
import { paymentsProjectionTables } from './tables/index.js';
import { foldWinningSnapshots } from './winning-snapshots.js';

/**
 * The `payments.*` tables from Stripe events, in three steps:
 * 1. winners: each object's winning snapshot among all its candidates (`payments.stripe_objects`);
 * 2. mappings: each subject's earliest pairing with a customer (`payments.customer_mappings`);
 * 3. rows: every row that reads a changed winner or mapping, rebuilt by its table's definition
 *    (`src/projections/payments/tables/`) and written only where a column differs.
 */
export { firstRowOfRequest } from './session-rows.js';

export const paymentsProjector: Projector = {
  name: 'payments',
  // 2: payment methods, setup intents, features, entitlements, tax ids, early fraud warnings,
  // credit notes and invoices' credited amounts, coupons, promotion codes, discounts and
  // subscription schedules, built from logs that already hold their events.
  version: 2,
  tables: [...paymentsProjectionTables.map((table) => table.name), ...paymentsProjectionStateTables],
  entryTypes: [
    logEntryType.stripeEvent,
    logEntryType.stripeSyncPage,
    logEntryType.stripeObjectFetched,
    ...Object.values(sessionEntryType),
  ],
  async apply(client: PoolClient, entries: readonly LogEntry[]) {
    const store = paymentsStore(client);
    const candidates = entries.flatMap(candidatesOfEntry);
    const changedWinners = await foldWinningSnapshots(store, candidates);
    const remappedCustomers = await foldCustomerMappings(
      store,
      candidates.flatMap((candidate) => {
        const pairing = pairingOf(candidate);
        return pairing
          ? [{ ...pairing, environment: candidate.environment, recordedAt: candidate.recordedAt }]
          : [];
      }),
    );
    await recomputeRows(store, changedWinners, remappedCustomers);
  },
  rebuild: rebuildPayments,
};
