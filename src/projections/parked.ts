import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventLog } from '../domain/event-log.js';
import type { Projector } from './projector.js';
import { checkpointOfRow, describeError, markLogPositionSql } from './runner.js';

const statements = {
  lockCheckpoint: 'select 1 from payfold.projection_checkpoints where projection = $1 for update',
  parked: `
    select e.position::text, e.transaction_id::text from payfold.projection_errors e
    where e.projection = $1 order by e.transaction_id, e.position`,
  applied: 'delete from payfold.projection_errors where projection = $1 and position = $2',
  stillFailing: `
    update payfold.projection_errors set error = $3, occurred_at = now() where projection = $1 and position = $2`,
} as const;

export interface RetrySummary {
  projection: string;
  retried: number;
  /** Applied now, and gone from `payfold.projection_errors`. */
  applied: number;
  /** Still failing, with their error brought up to date. */
  stillParked: number;
}

/**
 * Applies parked entries again after a fix, in log order, without a rebuild: each one that now
 * applies leaves `payfold.projection_errors`. The projection's checkpoint is held meanwhile, so
 * the runner waits; projections do not depend on the order of entries, so applying an old entry
 * after newer ones gives the rows a rebuild would.
 */
export const retryParkedEntries = async (options: {
  pool: pg.Pool;
  log: EventLog;
  logger: Logger;
  projectors: readonly Projector[];
}): Promise<RetrySummary[]> => {
  const summaries: RetrySummary[] = [];
  for (const projector of options.projectors) {
    const client = await options.pool.connect();
    let broken: Error | undefined;
    const summary: RetrySummary = { projection: projector.name, retried: 0, applied: 0, stillParked: 0 };
    try {
      await client.query('begin');
      await client.query(statements.lockCheckpoint, [projector.name]);
      const { rows } = await client.query<{ position: string; transaction_id: string }>(statements.parked, [
        projector.name,
      ]);
      const entries = await options.log.entriesAt(rows.map(checkpointOfRow));
      for (const entry of entries) {
        summary.retried += 1;
        await client.query('savepoint parked_entry');
        try {
          await client.query(markLogPositionSql, [entry.position.toString()]);
          await projector.apply(client, [entry]);
          await client.query('release savepoint parked_entry');
          await client.query(statements.applied, [projector.name, entry.position.toString()]);
          summary.applied += 1;
        } catch (error) {
          await client.query('rollback to savepoint parked_entry');
          await client.query(statements.stillFailing, [
            projector.name,
            entry.position.toString(),
            describeError(error),
          ]);
          summary.stillParked += 1;
        }
      }
      await client.query('commit');
      if (summary.retried > 0) options.logger.info(summary, 'parked entries retried');
      summaries.push(summary);
    } catch (error) {
      broken = error as Error;
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release(broken);
    }
  }
  return summaries;
};
