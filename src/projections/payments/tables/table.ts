import type { Environment } from '../../../domain/environment.js';
import type { Subject } from '../../../domain/subject.js';
import type { Columns, RowOf, TableShape } from '../../table-shape.js';

export type { ColumnSpec, Columns, RowOf, TableShape } from '../../table-shape.js';

/** The winning snapshot of a Stripe object: a row of `payments.stripe_objects`. */
export interface Winner {
  environment: Environment;
  objectType: string;
  objectId: string;
  /** Unix seconds on Stripe's clock. */
  observedAt: number;
  deleted: boolean;
  snapshot: Record<string, unknown>;
  /** The earliest recorded time of a log entry about the object. */
  createdAt: Date;
}

export interface ObjectRef {
  environment: Environment;
  objectType: string;
  objectId: string;
}

/** One text key of several values, for maps keyed by them (ids never contain NUL). */
export const keyOf = (...parts: string[]): string => parts.join('\u0000');

/** Adds a value to the list a map holds under a key (without copying the list). */
export const addTo = <T>(lists: Map<string, T[]>, key: string, value: T): void => {
  const list = lists.get(key);
  if (list) list.push(value);
  else lists.set(key, [value]);
};

/** The values a `keyOf` key was made of. */
export const partsOf = (key: string): string[] => key.split('\u0000');

export const objectKey = (ref: ObjectRef): string => keyOf(ref.environment, ref.objectType, ref.objectId);

/**
 * What a row function may read: winning snapshots, which objects link to which (see
 * `src/domain/stripe/links.ts`), and customer mappings. The live projection answers from Postgres,
 * batching every read of one step into one query; a full recompute answers from memory.
 */
export interface WinnerSource {
  winner(environment: Environment, objectType: string, objectId: string | null): Promise<Winner | undefined>;
  /** Ids of the objects of a type whose winner links to a target through a link, in id order. */
  linkedFrom(environment: Environment, targetId: string, link: string, objectType: string): Promise<string[]>;
  mappedSubject(environment: Environment, customerId: string | null): Promise<Subject | null>;
}

export interface BuiltRow<C extends Columns> {
  row: RowOf<C>;
  createdAt: Date;
}

/** The rows built around one root object. */
export interface RootRows<C extends Columns> {
  rows: BuiltRow<C>[];
  /**
   * Set when these are all the rows of the root: rows already in the table whose column of this
   * name holds the root's id, and that were not built now, are deleted.
   */
  completeBy?: keyof C & string;
}

/**
 * A `payments.*` table computed from winning snapshots. Each row is built around one object, its
 * root (a subscription for a subscription row, a payment intent or a lone charge for a payment).
 */
export interface DerivedTable<C extends Columns> extends TableShape<C> {
  /** The roots whose rows may change when this winner changes. */
  rootsAffectedBy(changed: Winner, source: WinnerSource): Promise<ObjectRef[]>;
  /**
   * For rows that fall back to their customer's mapping for their subject: the root of a stored
   * row, so that rows of a customer whose mapping changed are rebuilt.
   */
  mappedRowRoot?(row: RowOf<C>): ObjectRef;
  rowsOf(root: ObjectRef, source: WinnerSource): Promise<RootRows<C>>;
}

export const subjectColumns = (subject: Subject | null) => ({
  subject_type: subject?.type ?? null,
  subject_id: subject?.id ?? null,
});

export const timestamp = (seconds: number | null): Date | null =>
  seconds == null ? null : new Date(seconds * 1000);

/**
 * A table that mirrors one Stripe object type, one row per object, built from its winner alone.
 */
export const mirrorTable = <C extends Columns>(
  shape: TableShape<C>,
  objectType: string,
  rowOf: (winner: Winner) => RowOf<C>,
): DerivedTable<C> => ({
  ...shape,
  rootsAffectedBy: async (changed) => (changed.objectType === objectType ? [changed] : []),
  rowsOf: async (root, source) => {
    const winner = await source.winner(root.environment, objectType, root.objectId);
    return { rows: winner ? [{ row: rowOf(winner), createdAt: winner.createdAt }] : [] };
  },
});

/**
 * A table that mirrors one type of a customer's Stripe objects, one row per object, with the
 * subject of the customer's mapping: built from its winner, and again when the mapping changes.
 */
export const customerMirrorTable = <C extends Columns>(
  shape: TableShape<C>,
  objectType: string,
  rowOf: (winner: Winner) => Omit<RowOf<C>, 'subject_type' | 'subject_id'> & { customer_id: string | null },
): DerivedTable<C> => {
  const idColumn = shape.key.find((column) => column !== 'environment') as keyof RowOf<C>;
  return {
    ...shape,
    rootsAffectedBy: async (changed) => (changed.objectType === objectType ? [changed] : []),
    mappedRowRoot: (row) => ({
      environment: row.environment as Environment,
      objectType,
      objectId: String(row[idColumn]),
    }),
    rowsOf: async (root, source) => {
      const winner = await source.winner(root.environment, objectType, root.objectId);
      if (!winner) return { rows: [] };
      const row = rowOf(winner);
      const subject = subjectColumns(await source.mappedSubject(root.environment, row.customer_id));
      return { rows: [{ row: { ...row, ...subject } as unknown as RowOf<C>, createdAt: winner.createdAt }] };
    },
  };
};
