import type pg from 'pg';
import type { Logger } from 'pino';
import { Leadership } from '../projections/engine/index.js';
import { requireChangeStreamFor } from './change-stream.js';
import type { ChangeOperation, RowChange, Subscriber } from './subscriber.js';

const statements = {
  ensureCheckpoint: `
    insert into payfold.subscriber_checkpoints (subscriber, transaction_id, change_id)
    select $1, coalesce(last.transaction_id, '0'), coalesce(last.id, 0)
    from (select 1) as one
    left join lateral (
      select transaction_id, id from payfold.row_changes
      where $2 = 'now' order by transaction_id desc, id desc limit 1
    ) last on true
    on conflict (subscriber) do nothing`,
  checkpoint:
    'select transaction_id::text, change_id::text from payfold.subscriber_checkpoints where subscriber = $1',
  read: 'select * from payfold.read_row_changes($1::xid8, $2, $3)',
  // Moves only from where this runner read it: a replay that moved it meanwhile wins.
  advance: `
    update payfold.subscriber_checkpoints
    set transaction_id = $4::xid8, change_id = $5, updated_at = now()
    where subscriber = $1 and transaction_id = $2::xid8 and change_id = $3`,
  park: `
    insert into payfold.subscriber_errors (subscriber, change_id, error, attempts) values ($1, $2, $3, $4)
    on conflict (subscriber, change_id) do update set error = excluded.error, attempts = excluded.attempts,
      occurred_at = now()`,
} as const;

interface ChangeRow {
  id: string;
  transaction_id: string;
  table_name: string;
  operation: ChangeOperation;
  environment: string | null;
  row_key: Record<string, unknown>;
  new_row: Record<string, unknown> | null;
  old_row: Record<string, unknown> | null;
  log_position: string | null;
  changed_at: Date;
}

const changeOf = (subscriber: string, row: ChangeRow): RowChange => ({
  id: row.id,
  idempotencyKey: `payfold:${subscriber}:${row.id}`,
  table: row.table_name,
  operation: row.operation,
  environment: row.environment,
  key: row.row_key,
  row: row.new_row,
  previous: row.old_row,
  logPosition: row.log_position === null ? null : Number(row.log_position),
  changedAt: row.changed_at,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SubscriberRunnerOptions {
  pool: pg.Pool;
  logger: Logger;
  subscribers: readonly Subscriber[];
  /** Attempts after the first before a change is parked (default 5). */
  retries?: number;
  /** The first retry's wait; each next one doubles (default 200 ms). */
  retryBaseMs?: number;
  /** How often an idle subscriber looks for new changes (default 250 ms). */
  pollIntervalMs?: number;
}

/**
 * Delivers the change stream to subscribers, each on its own: read the changes after its
 * checkpoint, hand each one it wants to `handle` (retrying, then parking), and move the checkpoint
 * after each. A crash between a handler's success and the checkpoint delivers that change again:
 * at least once, and the idempotency key says it is the same change.
 */
export class SubscriberRunner {
  private stopped = false;
  private readonly loops: Array<Promise<void>> = [];
  private leadership: Leadership | undefined;

  constructor(private readonly options: SubscriberRunnerOptions) {}

  /** Starts delivering; a subscriber that has never run gets its starting point first. */
  async start(): Promise<void> {
    await requireChangeStreamFor(this.options.pool, this.options.subscribers);
    for (const subscriber of this.options.subscribers) {
      await this.options.pool.query(statements.ensureCheckpoint, [
        subscriber.name,
        subscriber.startFrom ?? 'now',
      ]);
    }
    if (this.options.subscribers.length === 0) return;
    // One deliverer per subscriber across processes, as one writer per projection.
    this.leadership = new Leadership(
      'subscriber',
      this.options.subscribers.map((subscriber) => subscriber.name),
      { pool: this.options.pool, logger: this.options.logger },
    );
    await this.leadership.start();
    for (const subscriber of this.options.subscribers) this.loops.push(this.run(subscriber));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.leadership?.stop();
  }

  /** Delivers every change committed so far to every subscriber (tests, one-off runs). */
  async catchUp(): Promise<void> {
    await requireChangeStreamFor(this.options.pool, this.options.subscribers);
    for (const subscriber of this.options.subscribers) {
      await this.options.pool.query(statements.ensureCheckpoint, [
        subscriber.name,
        subscriber.startFrom ?? 'now',
      ]);
      while ((await this.deliverBatch(subscriber)) > 0);
    }
  }

  private async run(subscriber: Subscriber): Promise<void> {
    while (!this.stopped) {
      if (!this.leadership?.leads(subscriber.name)) {
        await sleep(1000);
        continue;
      }
      try {
        if ((await this.deliverBatch(subscriber)) === 0) await sleep(this.options.pollIntervalMs ?? 250);
      } catch (error) {
        this.options.logger.warn(
          { subscriber: subscriber.name, err: { message: (error as Error).message } },
          'subscriber paused',
        );
        await sleep(1000);
      }
    }
  }

  /** Delivers the next changes; returns how many it read. */
  private async deliverBatch(subscriber: Subscriber): Promise<number> {
    const { pool } = this.options;
    const { rows: checkpoints } = await pool.query<{ transaction_id: string; change_id: string }>(
      statements.checkpoint,
      [subscriber.name],
    );
    let at = checkpoints[0];
    if (!at) return 0;
    const { rows } = await pool.query<ChangeRow>(statements.read, [at.transaction_id, at.change_id, 100]);
    for (const row of rows) {
      if (this.wants(subscriber, row)) await this.deliver(subscriber, row);
      const moved = await pool.query(statements.advance, [
        subscriber.name,
        at.transaction_id,
        at.change_id,
        row.transaction_id,
        row.id,
      ]);
      // A replay moved the checkpoint: start again from where it put it.
      if (moved.rowCount === 0) return rows.length;
      at = { transaction_id: row.transaction_id, change_id: row.id };
      if (this.stopped) break;
    }
    return rows.length;
  }

  private wants(subscriber: Subscriber, row: ChangeRow): boolean {
    return (
      (!subscriber.tables || subscriber.tables.includes(row.table_name)) &&
      (!subscriber.operations || subscriber.operations.includes(row.operation))
    );
  }

  private async deliver(subscriber: Subscriber, row: ChangeRow): Promise<void> {
    const retries = this.options.retries ?? 5;
    const change = changeOf(subscriber.name, row);
    for (let attempt = 0; ; attempt += 1) {
      try {
        await subscriber.handle(change);
        return;
      } catch (error) {
        if (attempt < retries && !this.stopped) {
          await sleep((this.options.retryBaseMs ?? 200) * 2 ** attempt);
          continue;
        }
        const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
        await this.options.pool.query(statements.park, [subscriber.name, row.id, message, attempt + 1]);
        this.options.logger.error(
          { subscriber: subscriber.name, change: row.id, err: { message } },
          'change parked: the subscriber kept failing on it',
        );
        return;
      }
    }
  }
}
