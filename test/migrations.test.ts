import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, runMigrations } from '../src/adapters/postgres/migrations.js';
import { createPool } from '../src/adapters/postgres/pool.js';
import { countRows, createTestDatabase, type TestDatabase } from './support/database.js';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('apply each version exactly once when several processes start at the same time', async () => {
    const pools = Array.from({ length: 4 }, () => createPool(db.url, { max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool) => runMigrations(pool)));
      const versions = (await loadMigrations()).map((migration) => migration.version);
      expect(results.flat().sort()).toEqual(versions);
      expect(await countRows(db.pool, 'payfold.migrations')).toBe(versions.length);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('are a no-op the second time', async () => {
    expect(await runMigrations(db.pool)).toEqual([]);
  });

  it('create the log, checkpoint and webhook delivery tables', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      `select table_schema || '.' || table_name as name from information_schema.tables
       where table_schema in ('payfold', 'payments') order by 1`,
    );
    expect(rows.map((row) => row.name)).toEqual([
      'payfold.events',
      'payfold.migrations',
      'payfold.projection_checkpoints',
      'payfold.projection_errors',
      'payments.webhook_events',
    ]);
  });
});
