import type pg from 'pg';

const statements = {
  subscribers: `
    select c.subscriber, c.change_id::text, c.updated_at,
           (select count(*) from payfold.subscriber_errors e where e.subscriber = c.subscriber)::int as parked,
           (select count(*) from payfold.row_changes r
            where (r.transaction_id, r.id) > (c.transaction_id, c.change_id))::int as behind
    from payfold.subscriber_checkpoints c order by c.subscriber`,
} as const;

/** A subscriber that has run on this database, as its checkpoint says. */
export interface SubscriberStatus {
  name: string;
  /** The last change it delivered (`payfold.row_changes.id`). */
  changeId: number;
  /** Changes kept after it, yet to be delivered. */
  behind: number;
  /** Changes its handler kept failing on, parked in `payfold.subscriber_errors`. */
  parkedChanges: number;
  updatedAt: Date;
}

/** Every subscriber that has run here (`payfold subscribers list`). */
export const subscriberStatuses = async (pool: pg.Pool): Promise<SubscriberStatus[]> =>
  (
    await pool.query<{
      subscriber: string;
      change_id: string;
      updated_at: Date;
      parked: number;
      behind: number;
    }>(statements.subscribers)
  ).rows.map((row) => ({
    name: row.subscriber,
    changeId: Number(row.change_id),
    behind: row.behind,
    parkedChanges: row.parked,
    updatedAt: row.updated_at,
  }));
