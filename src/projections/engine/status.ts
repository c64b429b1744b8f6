import type pg from 'pg';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointOfRow } from './checkpoints.js';

export interface ProjectionStatus {
  name: string;
  /** The last rebuild of its tables (`payfold rebuild`, or a newer projector version at start). */
  lastRebuild: { at: Date; reason: string; quiet: boolean; entries: number } | null;
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
         (select count(*) from payfold.projection_errors p where p.projection = c.projection)::int as parked,
         r.finished_at as rebuilt_at, r.reason as rebuild_reason, r.quiet as rebuild_quiet, r.entries as rebuild_entries
  from payfold.projection_checkpoints c
  left join lateral (
    select finished_at, reason, quiet, entries from payfold.projection_rebuilds b
    where b.projection = c.projection order by b.id desc limit 1
  ) r on true
  order by c.projection`;
const recentParkedSql = `
  select e.projection, e.position::text as position, e.entry_type, e.error, e.occurred_at
  from payfold.projection_errors e order by e.occurred_at desc, e.position desc limit $1`;

/**
 * Where each projection stands: its checkpoint and parked entries (projection state, in
 * Postgres), and how far behind the log it is, asked of the log itself, whichever store holds it.
 */
export const projectionStatuses = async (pool: pg.Pool, log: EventLog): Promise<ProjectionStatus[]> => {
  const { rows } = await pool.query(checkpointsSql);
  return Promise.all(
    rows.map(async (row) => ({
      name: row.name,
      lastRebuild: row.rebuilt_at
        ? {
            at: row.rebuilt_at,
            reason: row.rebuild_reason,
            quiet: row.rebuild_quiet,
            entries: Number(row.rebuild_entries),
          }
        : null,
      position: Number(row.position),
      behind: await log.countEntriesAfter(checkpointOfRow(row)),
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
