import type pg from 'pg';
import type { Logger } from 'pino';
import { Leadership } from './leadership.js';

export type ChangeOperation = 'insert' | 'update' | 'delete';

/** One real change of a `payments.*` row, as a subscriber receives it. */
export interface RowChange {
  /** The change's place in the stream (`payfold.row_changes.id`). */
  id: string;
  /** The same for every delivery of this change: use it to make the handler's effects idempotent. */
  idempotencyKey: string;
  /** `payments.subscriptions`… */
  table: string;
  operation: ChangeOperation;
  environment: string | null;
  /** The row's primary key columns. */
  key: Record<string, unknown>;
  /** The row after the change (null for a delete), as JSON (times as ISO strings). */
  row: Record<string, unknown> | null;
  /** The row before it (null for an insert). */
  previous: Record<string, unknown> | null;
  /** The last log entry of the projection batch that made it. */
  logPosition: number | null;
  changedAt: Date;
}

/**
 * Code of the app's that reacts to changes of the payments tables (fulfillment, emails, a CRM):
 * every real change it asks for, at least once, in order, with a durable checkpoint.
 */
export interface Subscriber {
  /** Names its checkpoint: renaming a subscriber starts it from the beginning. */
  name: string;
  /** Only these tables (`payments.subscriptions`…); all when left out. */
  tables?: readonly string[];
  /** Only these operations; all when left out. */
  operations?: readonly ChangeOperation[];
  /**
   * Where a subscriber that has never run starts: at the changes made from now on (the default,
   * so that a new welcome-email subscriber does not greet every past customer), or at the first
   * change kept. `payfold replay` moves it back later either way.
   */
  startFrom?: 'now' | 'beginning';
  /** Throwing retries the change (with backoff), then parks it in `payfold.subscriber_errors`. */
  handle(change: RowChange): Promise<void>;
}

const subscriberName = /^[a-z][a-z0-9_.-]{0,99}$/;

/** A subscriber, checked: its name must be usable as a checkpoint's name. */
export const defineSubscriber = (subscriber: Subscriber): Subscriber => {
  if (!subscriberName.test(subscriber.name)) {
    throw new Error(
      `subscriber name ${JSON.stringify(subscriber.name)}: lower-case letters, digits, _ . and - (at most 100)`,
    );
  }
  for (const table of subscriber.tables ?? []) {
    if (!table.startsWith('payments.'))
      throw new Error(`subscriber ${subscriber.name}: ${table} is not a payments table`);
  }
  return subscriber;
};

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
  changeStreamIsOn: 'select payfold.change_stream_is_on() as is_on',
  switchChangeStream: 'select payfold.switch_change_stream($1)',
} as const;

/** Whether every real change of a payments row is captured for subscribers (`payfold change-stream`). */
export const changeStreamIsOn = async (pool: pg.Pool): Promise<boolean> =>
  (await pool.query<{ is_on: boolean }>(statements.changeStreamIsOn)).rows[0]?.is_on === true;

/**
 * Turns the capture of changes on or off for every payments table. Off suits an app that fulfils
 * with triggers of its own and runs no subscriber: projections and rebuilds skip the capture's cost.
 */
export const switchChangeStream = async (pool: pg.Pool, turnOn: boolean): Promise<void> => {
  await pool.query(statements.switchChangeStream, [turnOn]);
};

/** Subscribers over a stream that is off would wait for changes that never come: refused. */
export const requireChangeStreamFor = async (pool: pg.Pool, subscribers: readonly Subscriber[]) => {
  if (subscribers.length > 0 && !(await changeStreamIsOn(pool)))
    throw new Error(
      'the change stream is off, so subscribers would receive nothing: turn it on with `payfold change-stream on`',
    );
};

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

const pruneRowChangesSql = 'select payfold.prune_row_changes(make_interval(days => $1), $2) as pruned';

/**
 * Deletes changes older than `retentionDays` that every subscriber has delivered and none has
 * parked, a bounded number per statement so that no delete holds locks for long. Returns how many.
 */
export const pruneRowChanges = async (pool: pg.Pool, retentionDays: number, perStatement = 10_000) => {
  let pruned = 0;
  for (;;) {
    const { rows } = await pool.query<{ pruned: number }>(pruneRowChangesSql, [retentionDays, perStatement]);
    const count = rows[0]?.pruned ?? 0;
    pruned += count;
    if (count < perStatement) return pruned;
  }
};
