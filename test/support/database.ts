import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { PostgresEventLog } from '../../src/adapters/postgres/event-log.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import { createPool } from '../../src/adapters/postgres/pool.js';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  /** The event log on this database; `drop` closes it. */
  log: PostgresEventLog;
  drop(): Promise<void>;
}

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

/** A fresh database of its own, migrated unless asked not to. */
export const createTestDatabase = async (options: { migrate?: boolean } = {}): Promise<TestDatabase> => {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `payfold_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const pool = createPool(url, { max: 10 });
  if (options.migrate !== false) await runMigrations(pool);
  const log = new PostgresEventLog(pool, url);
  return {
    url,
    pool,
    log,
    drop: async () => {
      await log.close();
      await pool.end();
      const cleaner = new pg.Client({ connectionString: adminUrl });
      await cleaner.connect();
      await cleaner.query(`drop database if exists ${name} with (force)`);
      await cleaner.end();
    },
  };
};

export const countRows = async (pool: pg.Pool, table: string): Promise<number> => {
  const { rows } = await pool.query<{ count: string }>(`select count(*)::text as count from ${table}`);
  return Number(rows[0]?.count);
};

/** Polls until `check` passes or the time is up; the last failure is rethrown. */
export const eventually = async (check: () => Promise<void>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
};

/** A database URL as Payfold names it to a person: without its password. */
export const urlWithoutPassword = (url: string): string => {
  const parsed = new URL(url);
  parsed.password = '';
  return parsed.toString();
};
