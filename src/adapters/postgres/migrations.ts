import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';

const migrationsDirectory = new URL('./migrations/', import.meta.url);

/** Any constant works; it only has to be the same for every Payfold process on the cluster. */
const migrationLockKey = 7_402_711_001;

const statements = {
  /**
   * Postgres lets PUBLIC execute every new function, and a per-schema default privilege cannot
   * take that back (migration 0016): so after each migration, in its transaction, whatever it
   * created is made the owner's until a grant says otherwise.
   */
  revokeFunctionsFromPublic: 'revoke all on all functions in schema payfold from public',
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

/**
 * Applies the migrations this database has not seen, each in its own transaction, under a
 * session advisory lock so that several `payfold serve` processes starting at once apply each
 * migration exactly once. Returns the versions it applied (none on a second run).
 */
export const runMigrations = async (pool: pg.Pool): Promise<number[]> => {
  const migrations = await loadMigrations();
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [migrationLockKey]);
    await client.query(`
      create schema if not exists payfold;
      create table if not exists payfold.migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`);
    const { rows } = await client.query<{ version: number }>('select version from payfold.migrations');
    const applied = new Set(rows.map((row) => row.version));
    const appliedNow: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query('begin');
      try {
        await client.query(migration.sql);
        await client.query(statements.revokeFunctionsFromPublic);
        await client.query('insert into payfold.migrations (version, name) values ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        );
      }
      appliedNow.push(migration.version);
    }
    return appliedNow;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [migrationLockKey]).catch(() => undefined);
    client.release();
  }
};
