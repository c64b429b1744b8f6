import type { PoolClient } from 'pg';
import { type LogEntry, type NewLogEntry, stripeObjectFetchedLogEntry } from '../../src/domain/event-log.js';
import { normaliseRow, projectedTableNames, type Tables } from './reference-model.js';
import type { buildHistory, GeneratedEvent } from './stripe-history.js';

/**
 * Log entries as the projector reads them, the events' then the session API's; an entry's
 * recorded time belongs to it, whatever the order.
 */
export const entriesOf = (
  events: readonly GeneratedEvent[],
  sessionEntries: readonly NewLogEntry[] = [],
): LogEntry[] => [
  ...events.map(
    (event, index): LogEntry => ({
      position: BigInt(index + 1),
      transactionId: 1n,
      environment: 'test',
      type: 'stripe.event',
      version: 1,
      dedupeKey: `stripe.event/test/${event.id}`,
      stream: `stripe.${event.data.object.object}/${event.data.object.id}`,
      data: JSON.parse(JSON.stringify(event)),
      metadata: {},
      recordedAt: new Date(Date.UTC(2026, 0, 1) + index * 1000),
    }),
  ),
  ...sessionEntries.map((entry, index) => ({
    ...entry,
    position: BigInt(events.length + index + 1),
    transactionId: 1n,
    data: JSON.parse(entry.data),
    recordedAt: new Date(Date.UTC(2026, 0, 1) + (events.length + index) * 1000),
  })),
];

/** Every entry of a generated history: its events, its session API entries and its API reads. */
export const historyEntries = (history: {
  events: readonly GeneratedEvent[];
  sessionEntries: readonly NewLogEntry[];
  reads: readonly NewLogEntry[];
}) => entriesOf(history.events, [...history.sessionEntries, ...history.reads]);

/**
 * Every entry of a generated history, plus every third object that still exists read from the API
 * in its last state twice, after the last event: the same state (one candidate key) at two seconds,
 * which deliveries in any order and batches must settle at the later one.
 */
export const historyEntriesWithRepeatedReads = (history: ReturnType<typeof buildHistory>) => {
  const after = Math.max(0, ...history.events.map((event) => event.created));
  const reads = [...history.truth.entries()]
    .filter(([key], index) => index % 3 === 0 && !history.deleted.has(key))
    .flatMap(([key, state]) =>
      [9, 5].map((seconds) =>
        stripeObjectFetchedLogEntry('test', {
          fetchId: `${key}/${seconds}`,
          observedAt: after + seconds,
          object: state,
        }),
      ),
    );
  return entriesOf(history.events, [...history.sessionEntries, ...history.reads, ...reads]);
};

/** Every projected table, as comparable rows. */
export const readTables = async (client: PoolClient): Promise<Tables> => {
  const tables: Tables = {};
  for (const name of projectedTableNames) {
    const { rows } = await client.query<{ row: Record<string, unknown> }>(
      `select to_jsonb(t) as row from payments.${name} t`,
    );
    tables[name] = rows.map((row) => normaliseRow(row.row)).sort();
  }
  return tables;
};

/** Splits a delivery into batches of the given sizes (cycled), as the runner would read them. */
export const batchesOf = <T>(items: readonly T[], sizes: readonly number[]): T[][] => {
  const batches: T[][] = [];
  let at = 0;
  let index = 0;
  while (at < items.length) {
    const size = Math.max(1, sizes[index % sizes.length] ?? 1);
    batches.push(items.slice(at, at + size));
    at += size;
    index += 1;
  }
  return batches;
};
