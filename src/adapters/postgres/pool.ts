import pg from 'pg';

export type Pool = pg.Pool;

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** A statement running longer is cancelled and its connection freed (health and metrics). */
  statementTimeoutMs?: number;
}

/**
 * Every Payfold connection commits durably, whatever the server's default: the webhook route
 * answers 2xx only after the commit, and that promise is worthless if the commit can be lost.
 */
export const createPool = (connectionString: string, options: PoolOptions = {}): pg.Pool => {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'payfold',
    options: `-c synchronous_commit=on${options.statementTimeoutMs ? ` -c statement_timeout=${options.statementTimeoutMs}` : ''}`,
    idleTimeoutMillis: 30_000,
    // A Postgres that does not answer a connect, or a peer gone without a word, is noticed.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
};
