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
  /** When its checkpoint last moved; null before it first ran. */
  updatedAt: Date | null;
  parkedEntries: number;
  /** Parked entries an admin dismissed (`payfold projections dismiss`): never applied, still in the log. */
  dismissedEntries: number;
}

export interface ParkedEntry {
  projection: string;
  position: number;
  entryType: string;
  error: string;
  occurredAt: Date;
  /** When an admin dismissed it; null while it is parked. */
  dismissedAt: Date | null;
}

export interface ProjectionsReport {
  projections: ProjectionStatus[];
  parkedEntries: ParkedEntry[];
}

// Every projection named, whether it has run yet or not (no checkpoint: at the start of the log).
const checkpointsSql = `
  select n.projection as name, coalesce(c.transaction_id, '0')::text as transaction_id,
         coalesce(c.position, 0)::text as position, c.updated_at,
                  (select count(*) from payfold.projection_errors p
                    where p.projection = n.projection and p.dismissed_at is null)::int as parked,
         (select count(*) from payfold.projection_errors p
          where p.projection = n.projection and p.dismissed_at is not null)::int as dismissed,
         r.finished_at as rebuilt_at, r.reason as rebuild_reason, r.quiet as rebuild_quiet, r.entries as rebuild_entries
    from unnest($1::text[]) as n(projection)
  left join payfold.projection_checkpoints c on c.projection = n.projection
  left join lateral (
    select finished_at, reason, quiet, entries from payfold.projection_rebuilds b
    where b.projection = n.projection order by b.id desc limit 1
  ) r on true
  order by n.projection`;
const recentParkedSql = `
  select e.projection, e.position::text as position, e.entry_type, e.error, e.occurred_at, e.dismissed_at
  from payfold.projection_errors e where $2::text is null or e.projection = $2
  order by e.occurred_at desc, e.position desc limit $1`;

/**
 * Where each projection stands: its checkpoint and parked entries (projection state, in
 * Postgres), and how far behind the log it is, asked of the log itself, whichever store holds it.
 */
export const projectionStatuses = async (
  pool: pg.Pool,
  log: EventLog,
  projections: readonly string[],
): Promise<ProjectionStatus[]> => {
  const { rows } = await pool.query(checkpointsSql, [projections]);
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
      dismissedEntries: row.dismissed,
    })),
  );
};

/** The latest parked entries (dismissed ones too), of every projection or of one. */
export const recentParkedEntries = async (
  pool: pg.Pool,
  limit = 20,
  projection?: string,
): Promise<ParkedEntry[]> => {
  const { rows } = await pool.query(recentParkedSql, [limit, projection ?? null]);
  return rows.map((row) => ({
    projection: row.projection,
    position: Number(row.position),
    entryType: row.entry_type,
    error: row.error,
    occurredAt: row.occurred_at,
    dismissedAt: row.dismissed_at,
  }));
};

/** `GET /api/admin/projections` and `payfold status`: every projection and the latest parked entries. */
export const projectionsReport = async (
  pool: pg.Pool,
  log: EventLog,
  projections: readonly string[],
  parkedLimit = 20,
): Promise<ProjectionsReport> => ({
  projections: await projectionStatuses(pool, log, projections),
  parkedEntries: await recentParkedEntries(pool, parkedLimit),
});
