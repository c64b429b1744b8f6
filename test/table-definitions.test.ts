import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsProjectionStateTables } from '../src/projections/payments/store.js';
import { paymentsProjectionTables } from '../src/projections/payments/tables/index.js';
import { webhookEventsTable } from '../src/projections/webhook-deliveries/table.js';

/** Every table of the `payments` schema, whichever projection writes it. */
const allPaymentsTables = [...paymentsProjectionTables, webhookEventsTable];

import type { ColumnSpec } from '../src/projections/payments/tables/table.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const sqlTypeNames: Record<string, string> = {
  'timestamp with time zone': 'timestamptz',
};

/** A column as information_schema describes it, in the notation of the table definitions. */
const specOf = (dataType: string, nullable: string): ColumnSpec =>
  `${sqlTypeNames[dataType] ?? dataType}${nullable === 'NO' ? ' not null' : ''}` as ColumnSpec;

const ddlColumns = async (table: string): Promise<Record<string, ColumnSpec>> => {
  const [schema, name] = table.split('.');
  const { rows } = await db.pool.query(
    `select column_name, data_type, is_nullable from information_schema.columns
     where table_schema = $1 and table_name = $2 order by column_name`,
    [schema, name],
  );
  return Object.fromEntries(rows.map((row) => [row.column_name, specOf(row.data_type, row.is_nullable)]));
};

const primaryKey = async (table: string): Promise<string[]> => {
  const { rows } = await db.pool.query(
    `select a.attname from pg_index i
     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
     where i.indrelid = $1::regclass and i.indisprimary
     order by array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return rows.map((row) => row.attname);
};

describe('the payments table definitions', () => {
  it('cover every table of the payments schema, and no other', async () => {
    const { rows } = await db.pool.query(
      `select table_schema || '.' || table_name as name from information_schema.tables
       where table_schema = 'payments' order by 1`,
    );
    expect(allPaymentsTables.map((table) => table.name).sort()).toEqual(rows.map((row) => row.name));
  });

  it.each(allPaymentsTables.map((table) => [table.name, table] as const))(
    '%s: columns, types, nullability and key match the migrations',
    async (name, table) => {
      expect(await ddlColumns(name)).toEqual({
        ...table.columns,
        created_at: 'timestamptz not null',
        updated_at: 'timestamptz not null',
      });
      expect(await primaryKey(name)).toEqual(table.key);
    },
  );

  it('name engine state tables that exist', async () => {
    for (const table of paymentsProjectionStateTables) {
      const { rows } = await db.pool.query('select to_regclass($1) as found', [table]);
      expect(rows[0].found, table).not.toBeNull();
    }
  });
});
