import type pg from 'pg';
import type { Subscriber } from './subscriber.js';

const statements = {
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

/** The change stream's switch, over one database (`payfold change-stream`). */
export interface ChangeStream {
  isOn(): Promise<boolean>;
  switchTo(turnOn: boolean): Promise<void>;
}

export const changeStream = (pool: pg.Pool): ChangeStream => ({
  isOn: () => changeStreamIsOn(pool),
  switchTo: (turnOn) => switchChangeStream(pool, turnOn),
});
