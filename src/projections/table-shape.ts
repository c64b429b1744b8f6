/*
 * How a projection declares a `payments.*` table: its columns as the migrations declare them, its
 * key, and the typed row built from the columns (a misspelt or missing column does not compile).
 */

/** Column types as the migrations declare them. */
type SqlType = 'text' | 'uuid' | 'boolean' | 'integer' | 'bigint' | 'numeric' | 'timestamptz' | 'jsonb';
/** A column as its DDL says it: the type, and `not null` where the migration says so. */
export type ColumnSpec = SqlType | `${SqlType} not null`;
export type Columns = Readonly<Record<string, ColumnSpec>>;

type ValueOfType<T extends SqlType> = T extends 'text' | 'uuid'
  ? string
  : T extends 'boolean'
    ? boolean
    : T extends 'integer' | 'bigint' | 'numeric'
      ? number
      : T extends 'timestamptz'
        ? Date
        : unknown;
type ValueOf<S extends ColumnSpec> = S extends `${infer T extends SqlType} not null`
  ? ValueOfType<T>
  : S extends SqlType
    ? ValueOfType<S> | null
    : never;

/** A row with exactly the declared columns: a misspelt or missing column does not compile. */
export type RowOf<C extends Columns> = { -readonly [K in keyof C]: ValueOf<C[K]> };

/**
 * A `payments.*` table as a projection writes it. `created_at` (the earliest recorded time behind
 * the row) and `updated_at` (its last real change) are on every table and kept by the writer.
 */
export interface TableShape<C extends Columns> {
  name: `payments.${string}`;
  /** Every column the projection writes, the key among them. */
  columns: C;
  key: ReadonlyArray<keyof C & string>;
}
