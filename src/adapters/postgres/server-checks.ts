import type pg from 'pg';

const statements = {
  serverEncoding: 'show server_encoding',
  currentRole: 'select current_user as role',
  grantServingRole: 'select payfold.grant_serving_role($1)',
  ownsTheLog: `
    select pg_get_userbyid(relowner) = current_user as owns from pg_class where oid = 'payfold.events'::regclass`,
  // Readers of the log wait for every transaction older than the entries they read (README "The log").
  oldestTransactionSeconds: `
    select coalesce(extract(epoch from now() - min(xact_start)), 0)::float8 as seconds
    from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null`,
  parkedEntries: 'select count(*)::int as parked from payfold.projection_errors where dismissed_at is null',
} as const;

/** What `payfold serve` asks of the Postgres server at start and for health, by named statement. */
export const serverChecks = (pool: pg.Pool) => ({
  async serverEncoding(): Promise<string | undefined> {
    return (await pool.query<{ server_encoding: string }>(statements.serverEncoding)).rows[0]
      ?.server_encoding;
  },
  async currentRole(): Promise<string> {
    return (await pool.query<{ role: string }>(statements.currentRole)).rows[0]?.role as string;
  },
  /** As the schemas' owner: grants a serving role what serving needs (functions/serving-role.sql). */
  async grantServingRole(role: string): Promise<void> {
    await pool.query(statements.grantServingRole, [role]);
  },
  async ownsTheLog(): Promise<boolean> {
    return (await pool.query<{ owns: boolean }>(statements.ownsTheLog)).rows[0]?.owns === true;
  },
  async oldestTransactionSeconds(): Promise<number> {
    return (await pool.query<{ seconds: number }>(statements.oldestTransactionSeconds)).rows[0]?.seconds ?? 0;
  },
  async parkedEntries(): Promise<number> {
    return (await pool.query<{ parked: number }>(statements.parkedEntries)).rows[0]?.parked ?? 0;
  },
});
