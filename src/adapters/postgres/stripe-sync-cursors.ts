import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { StripeSyncCursorsStore, SyncCursor } from '../../ports/stores.js';

const statements = {
  read: `
    select object_kind, sync_id::text, next_cursor, pages, objects, started_at, finished_at
    from payfold.stripe_sync_cursors where environment = $1 order by object_kind`,
  start: `
    insert into payfold.stripe_sync_cursors (environment, object_kind, sync_id)
    values ($1, $2, $3)
    on conflict (environment, object_kind) do update set
      sync_id = excluded.sync_id, next_cursor = null, pages = 0, objects = 0,
      started_at = now(), finished_at = null`,
  // The objects of a kind the tables hold as not deleted: those a finished sync must have seen.
  mirrored: `
    select object_id from payments.stripe_objects
    where environment = $1 and object_type = $2 and not deleted`,
  advance: `
    update payfold.stripe_sync_cursors
    set next_cursor = $4, pages = pages + 1, objects = objects + $5,
        finished_at = case when $4::text is null then now() end
    where environment = $1 and object_kind = $2 and sync_id = $3`,
  finish: `
    update payfold.stripe_sync_cursors set next_cursor = null, finished_at = now()
    where environment = $1 and object_kind = $2 and sync_id = $3`,
} as const;

/** `payfold.stripe_sync_cursors` (migration 0005), by named statement. */
export const stripeSyncCursorsStore = (pool: pg.Pool): StripeSyncCursorsStore => ({
  async all(environment: Environment): Promise<SyncCursor[]> {
    const { rows } = await pool.query(statements.read, [environment]);
    return rows.map((row) => ({
      objectKind: row.object_kind,
      syncId: row.sync_id,
      nextCursor: row.next_cursor,
      pages: row.pages,
      objects: row.objects,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
    }));
  },

  async start(environment: Environment, objectKind: string, syncId: string): Promise<void> {
    await pool.query(statements.start, [environment, objectKind, syncId]);
  },

  async mirrored(environment: Environment, objectType: string): Promise<string[]> {
    const { rows } = await pool.query<{ object_id: string }>(statements.mirrored, [environment, objectType]);
    return rows.map((row) => row.object_id);
  },

  /** Records an appended page: where the next one starts (null: the kind is done). */
  async advance(
    environment: Environment,
    objectKind: string,
    syncId: string,
    nextCursor: string | null,
    objects: number,
  ): Promise<void> {
    await pool.query(statements.advance, [environment, objectKind, syncId, nextCursor, objects]);
  },

  async finish(environment: Environment, objectKind: string, syncId: string): Promise<void> {
    await pool.query(statements.finish, [environment, objectKind, syncId]);
  },
});
