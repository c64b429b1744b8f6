import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  loadFunctionDefinitions,
  loadMigrations,
  runMigrations,
} from '../src/adapters/postgres/migrations.js';
import { createPool } from '../src/adapters/postgres/pool.js';
import { countRows, createTestDatabase, type TestDatabase } from './support/database.js';

describe('migrations', () => {
  // Each test starts from an empty database of its own.
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('apply each version exactly once when several processes start at the same time', async () => {
    const pools = Array.from({ length: 4 }, () => createPool(db.url, { max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool) => runMigrations(pool)));
      const versions = (await loadMigrations()).map((migration) => migration.version);
      expect(results.flat().sort((a, b) => a - b)).toEqual(versions);
      expect(await countRows(db.pool, 'payfold.migrations')).toBe(versions.length);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('are a no-op the second time', async () => {
    expect(await runMigrations(db.pool)).not.toEqual([]);
    expect(await runMigrations(db.pool)).toEqual([]);
  });

  it('create the log, the engine state and every payments table', async () => {
    await runMigrations(db.pool);
    const { rows } = await db.pool.query<{ name: string }>(
      `select table_schema || '.' || table_name as name from information_schema.tables
       where table_schema in ('payfold', 'payments') order by 1`,
    );
    expect(rows.map((row) => row.name)).toEqual([
      'payfold.ambiguous_ties',
      'payfold.events',
      'payfold.migrations',
      'payfold.projection_checkpoints',
      'payfold.projection_errors',
      'payfold.projection_rebuilds',
      'payfold.row_changes',
      'payfold.stripe_connections',
      'payfold.stripe_object_candidates',
      'payfold.stripe_object_links',
      'payfold.stripe_sync_cursors',
      'payfold.subject_pairings',
      'payfold.subscriber_checkpoints',
      'payfold.subscriber_errors',
      'payfold.webhook_redeliveries',
      'payments.checkout_sessions',
      'payments.coupons',
      'payments.credit_notes',
      'payments.customer_mappings',
      'payments.customer_portal_sessions',
      'payments.customers',
      'payments.discounts',
      'payments.disputes',
      'payments.early_fraud_warnings',
      'payments.entitlements',
      'payments.features',
      'payments.invoices',
      'payments.payment_history',
      'payments.payment_methods',
      'payments.prices',
      'payments.product_features',
      'payments.products',
      'payments.promotion_codes',
      'payments.refunds',
      'payments.setup_intents',
      'payments.stripe_objects',
      'payments.subscription_items',
      'payments.subscription_schedules',
      'payments.subscriptions',
      'payments.tax_ids',
      'payments.webhook_events',
    ]);
  });

  it('give a payments table a later migration adds its change capture, as the stream is on or off', async () => {
    await runMigrations(db.pool);
    const captureStates = async (table: string) =>
      (
        await db.pool.query<{ tgname: string; tgenabled: string }>(
          `select tgname, tgenabled from pg_trigger where tgrelid = $1::regclass and tgname like 'payfold\\_capture\\_%' order by 1`,
          [table],
        )
      ).rows.map((row) => `${row.tgname}:${row.tgenabled === 'D' ? 'off' : 'on'}`);
    expect(await captureStates('payments.payment_methods')).toEqual([
      'payfold_capture_deletes:on',
      'payfold_capture_inserts:on',
      'payfold_capture_updates:on',
    ]);
    await db.pool.query('select payfold.switch_change_stream(false)');
    await db.pool.query(
      'create table payments.later_table (environment text not null, later_id text not null, primary key (environment, later_id))',
    );
    try {
      await runMigrations(db.pool);
      expect(await captureStates('payments.later_table')).toEqual([
        'payfold_capture_deletes:off',
        'payfold_capture_inserts:off',
        'payfold_capture_updates:off',
      ]);
      expect((await db.pool.query('select payfold.change_stream_is_on() as on')).rows).toEqual([
        { on: false },
      ]);
    } finally {
      await db.pool.query('drop table payments.later_table');
      await db.pool.query('select payfold.switch_change_stream(true)');
    }
  });

  it('define every function of schema payfold in src/adapters/postgres/functions, the one place its live body is', async () => {
    await runMigrations(db.pool);
    const { rows } = await db.pool.query<{ name: string }>(
      `select distinct p.proname::text as name from pg_proc p where p.pronamespace = 'payfold'::regnamespace order by 1`,
    );
    const definitions = (await loadFunctionDefinitions()).map(({ sql }) => sql).join('\n');
    const defined = (name: string) =>
      (definitions.match(new RegExp(`create or replace function payfold\\.${name}\\(`, 'g')) ?? []).length;
    expect(rows.map((row) => row.name).filter((name) => defined(name) === 0)).toEqual([]);
  });

  it('put every function back to its file on every migrate, as repeatable migrations do', async () => {
    await runMigrations(db.pool);
    await db.pool.query(
      "create or replace function payfold.change_stream_is_on() returns boolean language sql stable as 'select false'",
    );
    expect((await db.pool.query('select payfold.change_stream_is_on() as on')).rows).toEqual([{ on: false }]);
    expect(await runMigrations(db.pool)).toEqual([]);
    expect((await db.pool.query('select payfold.change_stream_is_on() as on')).rows).toEqual([{ on: true }]);
  });
});
