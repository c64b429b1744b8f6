import type { Environment } from '../../domain/environment.js';
import type { LogEntry } from '../../domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../../domain/stripe/candidates.js';
import { linksOf } from '../../domain/stripe/links.js';
import type { Mapping } from '../../domain/stripe/pairings.js';
import { winningSnapshot } from '../../domain/stripe/winner.js';
import type { Subject } from '../../domain/subject.js';
import { earliest } from '../../domain/time.js';
import type { PaymentsStore } from './store.js';
import { derivedTables } from './tables/index.js';
import {
  addTo,
  type BuiltRow,
  type Columns,
  type DerivedTable,
  keyOf,
  type ObjectRef,
  objectKey,
  type RootRows,
  type Winner,
  type WinnerSource,
} from './tables/table.js';
import { winnerOf } from './winning-snapshots.js';

const uniqueRoots = (roots: readonly ObjectRef[]): ObjectRef[] => [
  ...new Map(roots.map((root) => [objectKey(root), root])).values(),
];

const rowsOfRoots = async <C extends Columns>(
  table: DerivedTable<C>,
  roots: readonly ObjectRef[],
  source: WinnerSource,
): Promise<Array<RootRows<C> & { root: ObjectRef }>> =>
  Promise.all(roots.map(async (root) => ({ root, ...(await table.rowsOf(root, source)) })));

/** Builds the rows of the given roots of each table, then writes those that differ. */
export const writeRowsOfRoots = async (
  store: PaymentsStore,
  source: WinnerSource,
  rootsOf: (table: DerivedTable<Columns>) => Promise<readonly ObjectRef[]>,
): Promise<void> => {
  // Every table works at once, so the reads of one step of every table go to Postgres together.
  const built = await Promise.all(
    derivedTables.map(async (table) => ({
      table,
      rows: await rowsOfRoots(table, uniqueRoots(await rootsOf(table)), source),
    })),
  );
  for (const { table, rows } of built) await store.writeRows(table, rows);
};

/** The roots of a table whose rows may change with these winners. */
export const rootsAffectedBy = async (
  table: DerivedTable<Columns>,
  changed: readonly Winner[],
  source: WinnerSource,
): Promise<ObjectRef[]> =>
  (await Promise.all(changed.map((winner) => table.rootsAffectedBy(winner, source)))).flat();

/**
 * Rebuilds the rows that read the changed winners, and those that fall back to a customer whose
 * mapping changed, then writes those that differ.
 */
export const recomputeRows = async (
  store: PaymentsStore,
  changed: readonly Winner[],
  remappedCustomers: ReadonlyArray<{ environment: Environment; customerId: string }>,
): Promise<void> => {
  const source = store.winnerSource(changed);
  await writeRowsOfRoots(store, source, async (table) => [
    ...(await rootsAffectedBy(table, changed, source)),
    ...(await store.rootsOfCustomers(table, remappedCustomers)),
  ]);
};

/** Answers from a complete set of winners and mappings held in memory. */
export const inMemorySource = (
  winners: readonly Winner[],
  mappings: ReadonlyArray<Mapping & { environment: Environment }>,
): WinnerSource => {
  const byRef = new Map(winners.map((winner) => [objectKey(winner), winner]));
  const linksTo = new Map<string, Array<{ link: string; objectType: string; objectId: string }>>();
  for (const winner of winners) {
    for (const { link, targetId } of linksOf(winner.objectType, winner.snapshot)) {
      const key = keyOf(winner.environment, targetId);
      addTo(linksTo, key, { link, objectType: winner.objectType, objectId: winner.objectId });
    }
  }
  const mapped = new Map<string, Subject>(
    mappings.map((mapping) => [keyOf(mapping.environment, mapping.customerId), mapping.subject]),
  );
  return {
    winner: async (environment, objectType, objectId) =>
      objectId ? byRef.get(objectKey({ environment, objectType, objectId })) : undefined,
    linkedFrom: async (environment, targetId, link, objectType) =>
      (linksTo.get(keyOf(environment, targetId)) ?? [])
        .filter((row) => row.link === link && row.objectType === objectType)
        .map((row) => row.objectId)
        .sort(),
    mappedSubject: async (environment, customerId) =>
      customerId ? (mapped.get(keyOf(environment, customerId)) ?? null) : null,
  };
};

/** Every row of one table that a complete set of winners builds. */
export const allRowsOf = async <C extends Columns>(
  table: DerivedTable<C>,
  winners: readonly Winner[],
  source: WinnerSource,
): Promise<Array<BuiltRow<C>>> =>
  (
    await rowsOfRoots(
      table,
      uniqueRoots(await rootsAffectedBy(table as unknown as DerivedTable<Columns>, winners, source)),
      source,
    )
  ).flatMap((entry) => entry.rows);

/**
 * The rows of one table that some entries alone project to: what a session request writes before
 * the projection reads its entry, so that the projection then finds nothing to change.
 */
export const rowsOfEntries = async <C extends Columns>(
  table: DerivedTable<C>,
  entries: readonly LogEntry[],
): Promise<Array<BuiltRow<C>>> => {
  const byObject = new Map<string, Candidate[]>();
  for (const candidate of entries.flatMap(candidatesOfEntry))
    addTo(byObject, objectKey(candidate), candidate);
  const winners = [...byObject.values()].flatMap((group) => {
    const choice = winningSnapshot(group);
    const first = group[0] as Candidate;
    return choice ? [winnerOf(first, choice, earliest(group.map((candidate) => candidate.recordedAt)))] : [];
  });
  // Only the table asked for: this runs on every session request.
  return allRowsOf(table, winners, inMemorySource(winners, []));
};
