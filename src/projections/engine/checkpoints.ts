import type { LogCheckpoint } from '../../domain/event-log.js';

/**
 * Where each projection stands in the log (`payfold.projection_checkpoints`). A checkpoint moves in
 * the same transaction as the projection's writes, so an entry is applied exactly once or not at all.
 */
export const checkpointStatements = {
  // A new checkpoint is built by this code: it records the projector's version (see rebuild.ts).
  ensure: `
  insert into payfold.projection_checkpoints (projection, projector_version) values ($1, $2)
  on conflict (projection) do nothing`,
  // Locking the checkpoint row makes one process at a time advance a projection, so two
  // `payfold serve` processes never apply the same entry twice.
  lock: `
  select transaction_id::text, position::text
  from payfold.projection_checkpoints where projection = $1 for update`,
  read: 'select transaction_id::text, position::text from payfold.projection_checkpoints where projection = $1',
  save: `
  update payfold.projection_checkpoints
  set transaction_id = $2::xid8, position = $3, updated_at = now()
  where projection = $1`,
  // A rebuild's checkpoint also records the version of the code that built the tables.
  saveRebuilt: `
    update payfold.projection_checkpoints
    set transaction_id = $2::xid8, position = $3, projector_version = $4, updated_at = now()
    where projection = $1`,
  versions: 'select projection, projector_version, position::text from payfold.projection_checkpoints',
  // Changes captured for subscribers (payfold.row_changes) name the log position behind them.
  markLogPosition: "select set_config('payfold.log_position', $1, true)",
} as const;

/** A place in the log as Postgres returns it (`xid8` and `bigint` as text), exactly. */
export const checkpointOfRow = (row: { transaction_id: string; position: string }): LogCheckpoint => ({
  transactionId: BigInt(row.transaction_id),
  position: BigInt(row.position),
});
