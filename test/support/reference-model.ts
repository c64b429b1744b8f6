import type { Environment } from '../../src/domain/environment.js';
import type { LogEntry } from '../../src/domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../../src/domain/stripe/candidates.js';
import { customerMappings, type Mapping, type Pairing, pairingOf } from '../../src/domain/stripe/pairings.js';
import { winningSnapshot } from '../../src/domain/stripe/winner.js';
import { earliest } from '../../src/domain/time.js';
import { allRowsOf, inMemorySource } from '../../src/projections/payments/recompute.js';
import { derivedTables } from '../../src/projections/payments/tables/index.js';
import type { BuiltRow, Columns, Winner } from '../../src/projections/payments/tables/table.js';

/**
 * The expected `payments.*` tables of a set of log entries, computed all at once from the whole
 * set: every object's winner from all of its candidates, every mapping from all pairings, then
 * every row from the winners by the same table definitions the projection uses. No checkpoints,
 * no stored candidates or pruning, no links, no incremental recomputation: what the projection
 * does incrementally must come out exactly like this.
 */
export type Tables = Record<string, string[]>;

/** Rows as comparable text: timestamps as ISO strings, keys sorted, nulls and `updated_at` left out. */
export const normaliseRow = (row: Record<string, unknown>): string => {
  const normalised = Object.fromEntries(
    Object.entries(row)
      // A null column and a missing one say the same; `updated_at` is the one column allowed to differ.
      .filter(([column, value]) => column !== 'updated_at' && value !== null && value !== undefined)
      .map(([column, value]) => {
        if (value instanceof Date) return [column, value.toISOString()];
        if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) {
          return [column, new Date(value).toISOString()];
        }
        return [column, value];
      })
      .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
  );
  return JSON.stringify(normalised, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
      : value,
  );
};

export const referenceTables = async (entries: readonly LogEntry[]): Promise<Tables> => {
  const candidates = new Map<string, Candidate>();
  // One candidate per key: a state read more than once holds at the latest second it was read,
  // and its row was first recorded when the earliest of those reads was.
  for (const candidate of entries.flatMap(candidatesOfEntry)) {
    const known = candidates.get(candidate.key);
    if (!known) candidates.set(candidate.key, candidate);
    else
      candidates.set(candidate.key, {
        ...(candidate.observedAt > known.observedAt ? candidate : known),
        recordedAt: earliest([known.recordedAt, candidate.recordedAt]),
      });
  }
  const byObject = new Map<string, Candidate[]>();
  for (const candidate of candidates.values()) {
    const key = `${candidate.environment}\u0000${candidate.objectType}\u0000${candidate.objectId}`;
    byObject.set(key, [...(byObject.get(key) ?? []), candidate]);
  }
  const winners: Winner[] = [];
  for (const group of byObject.values()) {
    const winner = winningSnapshot(group);
    const first = group[0] as Candidate;
    if (!winner) continue;
    winners.push({
      environment: first.environment,
      objectType: first.objectType,
      objectId: first.objectId,
      snapshot: winner.snapshot,
      deleted: winner.deleted,
      observedAt: winner.observedAt,
      createdAt: earliest(group.map((c) => c.recordedAt)),
    });
  }

  // Customer mappings: the earliest pairing per subject and customer, then the greedy assignment.
  const pairings = new Map<string, Pairing & { environment: Environment; recordedAt: Date }>();
  for (const candidate of candidates.values()) {
    const pairing = pairingOf(candidate);
    if (!pairing) continue;
    const key = `${candidate.environment}\u0000${pairing.subject.type}\u0000${pairing.subject.id}\u0000${pairing.customerId}`;
    const known = pairings.get(key);
    pairings.set(key, {
      ...pairing,
      environment: candidate.environment,
      observedAt: Math.min(pairing.observedAt, known?.observedAt ?? Number.POSITIVE_INFINITY),
      recordedAt: known && known.recordedAt < candidate.recordedAt ? known.recordedAt : candidate.recordedAt,
    });
  }
  const mappings = (['test', 'live'] as const).flatMap((environment) => {
    const ofEnvironment = [...pairings.values()].filter((p) => p.environment === environment);
    return customerMappings(ofEnvironment).map((mapping) => ({
      ...mapping,
      environment,
      createdAt: ofEnvironment.find(
        (p) =>
          p.customerId === mapping.customerId &&
          p.subject.type === mapping.subject.type &&
          p.subject.id === mapping.subject.id,
      )?.recordedAt,
    }));
  });

  const tables: Record<string, Array<Record<string, unknown>>> = {
    stripe_objects: winners.map((w) => ({
      environment: w.environment,
      object_type: w.objectType,
      object_id: w.objectId,
      observed_at: new Date(w.observedAt * 1000),
      deleted: w.deleted,
      snapshot: w.snapshot,
      created_at: w.createdAt,
    })),
    customer_mappings: mappings.map((mapping) => ({
      environment: mapping.environment,
      subject_type: mapping.subject.type,
      subject_id: mapping.subject.id,
      customer_id: mapping.customerId,
      created_at: mapping.createdAt,
    })),
  };
  for (const [name, rows] of await recomputeAllRows(winners, mappings)) {
    tables[name.replace('payments.', '')] = rows.map(({ row, createdAt }) => ({
      ...row,
      created_at: createdAt,
    }));
  }
  return Object.fromEntries(
    Object.entries(tables).map(([table, rows]) => [table, rows.map(normaliseRow).sort()]),
  );
};

export const projectedTableNames = [
  'stripe_objects',
  'customer_mappings',
  'products',
  'prices',
  'customers',
  'subscriptions',
  'subscription_items',
  'invoices',
  'refunds',
  'disputes',
  'checkout_sessions',
  'payment_history',
  'payment_methods',
  'setup_intents',
  'features',
  'entitlements',
  'tax_ids',
  'early_fraud_warnings',
  'credit_notes',
  'coupons',
  'promotion_codes',
  'discounts',
  'subscription_schedules',
  'product_features',
] as const;

/** The rows in which two sets of tables differ, as `table: -expected` / `table: +actual` lines. */
export const tableDifferences = (actual: Tables, expected: Tables): string[] =>
  Object.keys({ ...actual, ...expected }).flatMap((table) => {
    const have = new Set(actual[table] ?? []);
    const want = new Set(expected[table] ?? []);
    return [
      ...[...want].filter((row) => !have.has(row)).map((row) => `${table}: -${row}`),
      ...[...have].filter((row) => !want.has(row)).map((row) => `${table}: +${row}`),
    ];
  });

/**
 * Every row of every derived table from a complete set of winners and mappings, with the same
 * table definitions as the live projection: the rows a full rebuild must arrive at.
 */
const recomputeAllRows = async (
  winners: readonly Winner[],
  mappings: ReadonlyArray<Mapping & { environment: Environment }>,
): Promise<Map<string, Array<BuiltRow<Columns>>>> => {
  const source = inMemorySource(winners, mappings);
  const tables = new Map<string, Array<BuiltRow<Columns>>>();
  for (const table of derivedTables) tables.set(table.name, await allRowsOf(table, winners, source));
  return tables;
};
