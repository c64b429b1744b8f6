import type pg from 'pg';
import type { EventLog } from '../domain/event-log.js';

export interface ProjectionStatus {
  name: string;
  /** Log position the projection has applied up to. */
  position: number;
  /** Entries in the log after that position (committed ones, readable or not yet). */
  behind: number;
  updatedAt: Date;
  parkedEntries: number;
}

export interface ParkedEntry {
  projection: string;
  position: number;
  entryType: string;
  error: string;
  occurredAt: Date;
}

export interface ProjectionsReport {
  projections: ProjectionStatus[];
  parkedEntries: ParkedEntry[];
}

const checkpointsSql = `
  select c.projection as name, c.transaction_id::text, c.position::text as position, c.updated_at,
         (select count(*) from payfold.projection_errors p where p.projection = c.projection)::int as parked
  from payfold.projection_checkpoints c
  order by c.projection`;
const recentParkedSql = `
  select projection, position::text as position, entry_type, error, occurred_at
  from payfold.projection_errors order by occurred_at desc, position desc limit $1`;

/**
 * Where each projection stands: its checkpoint and parked entries (projection state, in
 * Postgres), and how far behind the log it is, asked of the log itself, whichever store holds it.
 */
export const projectionStatuses = async (pool: pg.Pool, log: EventLog): Promise<ProjectionStatus[]> => {
  const { rows } = await pool.query(checkpointsSql);
  return Promise.all(
    rows.map(async (row) => ({
      name: row.name,
      position: Number(row.position),
      behind: await log.countEntriesAfter({
        transactionId: BigInt(row.transaction_id),
        position: BigInt(row.position),
      }),
      updatedAt: row.updated_at,
      parkedEntries: row.parked,
    })),
  );
};

export const recentParkedEntries = async (pool: pg.Pool, limit = 20): Promise<ParkedEntry[]> => {
  const { rows } = await pool.query(recentParkedSql, [limit]);
  return rows.map((row) => ({
    projection: row.projection,
    position: Number(row.position),
    entryType: row.entry_type,
    error: row.error,
    occurredAt: row.occurred_at,
  }));
};

/** `GET /api/admin/projections` and `payfold status`: every projection and the latest parked entries. */
export const projectionsReport = async (
  pool: pg.Pool,
  log: EventLog,
  parkedLimit = 20,
): Promise<ProjectionsReport> => ({
  projections: await projectionStatuses(pool, log),
  parkedEntries: await recentParkedEntries(pool, parkedLimit),
});
