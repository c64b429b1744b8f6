import type pg from 'pg';

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

const projectionStatusSql = `
  select c.projection as name, c.position::text as position, c.updated_at,
         (select count(*) from payfold.events e where (e.transaction_id, e.position) > (c.transaction_id, c.position))::int as behind,
         (select count(*) from payfold.projection_errors p where p.projection = c.projection)::int as parked
  from payfold.projection_checkpoints c
  order by c.projection`;
const recentParkedSql = `
  select projection, position::text as position, entry_type, error, occurred_at
  from payfold.projection_errors order by occurred_at desc, position desc limit $1`;

/** Where each projection stands: its checkpoint, how far behind the log it is, what it parked. */
export const projectionStatuses = async (pool: pg.Pool): Promise<ProjectionStatus[]> => {
  const { rows } = await pool.query(projectionStatusSql);
  return rows.map((row) => ({
    name: row.name,
    position: Number(row.position),
    behind: row.behind,
    updatedAt: row.updated_at,
    parkedEntries: row.parked,
  }));
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
