import type { NewLogEntry } from '../../domain/event-log.js';
import { sessionEntryType } from '../../domain/session-requests.js';
import { rowsOfEntries } from './recompute.js';
import { checkoutSessionsTable } from './tables/checkout-sessions.js';
import { customerPortalSessionsTable } from './tables/customer-portal-sessions.js';
import type { Columns, DerivedTable } from './tables/table.js';

/**
 * The row a session request's first entry alone projects to, without its times (the transaction
 * sets them): the session API inserts it as the caller, so that projecting the entry later finds
 * nothing to change.
 */
export const firstRowOfRequest = async (entry: NewLogEntry): Promise<Record<string, unknown>> => {
  const table = (
    entry.type === sessionEntryType.checkoutRequested
      ? checkoutSessionsTable
      : entry.type === sessionEntryType.portalRequested
        ? customerPortalSessionsTable
        : undefined
  ) as DerivedTable<Columns> | undefined;
  if (!table) throw new Error(`a ${entry.type} entry begins no session request`);
  const [built] = await rowsOfEntries(table, [
    { ...entry, position: 0n, transactionId: 0n, data: JSON.parse(entry.data), recordedAt: new Date() },
  ]);
  if (!built) throw new Error(`a ${entry.type} entry projects to no row of ${table.name}`);
  return built.row;
};
