import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';

const migrationsDirectory = new URL('./migrations/', import.meta.url);
/** The live definition of every database function, one file per concern (see its README). */
const functionsDirectory = new URL('./functions/', import.meta.url);

/** Any constant works; it only has to be the same for every Payfold process on the cluster. */
const migrationLockKey = 7_402_711_001;

const statements = {
  lock: 'select pg_advisory_lock($1)',
  unlock: 'select pg_advisory_unlock($1)',
  ensureMigrationsTable: `
    create schema if not exists payfold;
    create table if not exists payfold.migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`,
  appliedVersions: 'select version from payfold.migrations',
  recordMigration: 'insert into payfold.migrations (version, name) values ($1, $2)',
  /**
   * Postgres lets PUBLIC execute every new function, and a per-schema default privilege cannot
   * take that back (migration 0017): so after each migration, and after the functions, in the same
   * transaction, whatever was created is the owner's until a grant says otherwise.
   */
  revokeFunctionsFromPublic: 'revoke all on all functions in schema payfold from public',
  /** A payments table a migration added gets its change capture (functions/change-stream.sql). */
  captureNewTables: 'select payfold.capture_changes_of_new_tables()',
} as const;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const loadMigrations = async (): Promise<Migration[]> => {
  const files = (await readdir(migrationsDirectory)).filter((file) => /^\d{4}_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: await readFile(new URL(file, migrationsDirectory), 'utf8'),
    })),
  );
};

/** The function files, in name order: each a set of `create or replace function` statements. */
export const loadFunctionDefinitions = async (): Promise<Array<{ file: string; sql: string }>> => {
  const files = (await readdir(functionsDirectory)).filter((file) => file.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => ({ file, sql: await readFile(new URL(file, functionsDirectory), 'utf8') })),
  );
};

const inTransaction = async (client: pg.PoolClient, work: () => Promise<void>): Promise<void> => {
  await client.query('begin');
  try {
    await work();
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
};

/**
 * Applies the migrations this database has not seen, each in its own transaction, then every
 * function's live definition (`create or replace`, as Flyway's repeatable migrations), all under a
 * session advisory lock so that several `payfold serve` processes starting at once apply each
 * migration exactly once. Returns the versions it applied (none on a second run).
 */
export const runMigrations = async (pool: pg.Pool): Promise<number[]> => {
  const [migrations, functions] = await Promise.all([loadMigrations(), loadFunctionDefinitions()]);
  const client = await pool.connect();
  try {
    await client.query(statements.lock, [migrationLockKey]);
    await client.query(statements.ensureMigrationsTable);
    const { rows } = await client.query<{ version: number }>(statements.appliedVersions);
    const applied = new Set(rows.map((row) => row.version));
    const appliedNow: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      try {
        await inTransaction(client, async () => {
          await client.query(migration.sql);
          await client.query(statements.revokeFunctionsFromPublic);
          await client.query(statements.recordMigration, [migration.version, migration.name]);
        });
      } catch (error) {
        throw new Error(
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        );
      }
      appliedNow.push(migration.version);
    }
    let current = '';
    try {
      await inTransaction(client, async () => {
        for (const { file, sql } of functions) {
          current = file;
          await client.query(sql);
        }
        await client.query(statements.captureNewTables);
        await client.query(statements.revokeFunctionsFromPublic);
      });
    } catch (error) {
      throw new Error(`functions/${current} failed: ${(error as Error).message}`);
    }
    return appliedNow;
  } finally {
    await client.query(statements.unlock, [migrationLockKey]).catch(() => undefined);
    client.release();
  }
};
