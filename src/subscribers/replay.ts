import type pg from 'pg';

const statements = {
  checkpoint:
    'select transaction_id::text, change_id::text from payfold.subscriber_checkpoints where subscriber = $1',
  // Ordered by the columns, not by their text in the select list ('100' < '64').
  firstChangeFromPosition: `
    select c.transaction_id::text, c.id::text from payfold.row_changes c where c.log_position >= $1
    order by c.transaction_id, c.id limit 1`,
  firstChangeFromTime: `
    select c.transaction_id::text, c.id::text from payfold.row_changes c where c.changed_at >= $1
    order by c.transaction_id, c.id limit 1`,
  countFrom: `
    select count(*)::int as n from payfold.row_changes where (transaction_id, id) > ($1::xid8, $2)`,
  moveCheckpoint: `
    update payfold.subscriber_checkpoints set transaction_id = $2::xid8, change_id = $3, updated_at = now()
    where subscriber = $1`,
  lastChange: `
    select c.transaction_id::text, c.id::text from payfold.row_changes c
    order by c.transaction_id desc, c.id desc limit 1`,
} as const;

export type ReplayFrom = { logPosition: number } | { time: Date };

/**
 * Moves a subscriber's checkpoint back so that it receives again every change from a point:
 * the first change made by a log entry at or after a position, or at or after a time. Returns how
 * many changes lie ahead of it now; undefined when no subscriber of that name has run here.
 */
export const replaySubscriber = async (
  pool: pg.Pool,
  subscriber: string,
  from: ReplayFrom,
): Promise<number | undefined> => {
  const { rows: known } = await pool.query(statements.checkpoint, [subscriber]);
  if (known.length === 0) return undefined;
  const { rows } = await pool.query<{ transaction_id: string; id: string }>(
    'logPosition' in from ? statements.firstChangeFromPosition : statements.firstChangeFromTime,
    ['logPosition' in from ? from.logPosition : from.time],
  );
  const first = rows[0];
  const last = (await pool.query<{ transaction_id: string; id: string }>(statements.lastChange)).rows[0];
  // Just before the first change to deliver again; after the last one when there is none.
  const to = first
    ? { transactionId: first.transaction_id, changeId: String(BigInt(first.id) - 1n) }
    : { transactionId: last?.transaction_id ?? '0', changeId: last?.id ?? '0' };
  await pool.query(statements.moveCheckpoint, [subscriber, to.transactionId, to.changeId]);
  const { rows: ahead } = await pool.query<{ n: number }>(statements.countFrom, [
    to.transactionId,
    to.changeId,
  ]);
  return ahead[0]?.n ?? 0;
};
