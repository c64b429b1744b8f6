import type pg from 'pg';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import type { LogCheckpoint, LogEntry } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointOfRow, checkpointStatements } from './checkpoints.js';
import type { ProjectionMetrics, Projector } from './projector.js';

/*
 * Parked entries: entries a projector cannot apply (an unreadable payload, a value Postgres
 * refuses) are recorded in `payfold.projection_errors` and passed over, so that one bad payload
 * never holds the others back; a retry applies them again after a fix.
 */

const statements = {
  park: `
    insert into payfold.projection_errors (projection, position, transaction_id, entry_type, error)
    values ($1, $2, $3::xid8, $4, $5)
    on conflict (projection, position) do update set error = excluded.error, occurred_at = now()`,
  parked: `
    select e.position::text, e.transaction_id::text from payfold.projection_errors e
    where e.projection = $1 and e.dismissed_at is null order by e.transaction_id, e.position`,
  dismissedPositions: `
    select position::text from payfold.projection_errors where projection = $1 and dismissed_at is not null`,
  parkedPositions: `
    select position::text from payfold.projection_errors where projection = $1 and dismissed_at is null`,
  // Parked entries a rebuild read up to `through` and applied without parking them again: fixed.
  clearApplied: `
    delete from payfold.projection_errors
    where projection = $1 and dismissed_at is null and (transaction_id, position) <= ($2::xid8, $3)
      and position <> all($4::bigint[])`,
  dismiss: `
    update payfold.projection_errors set dismissed_at = case when $3 then null else now() end
    where position = any($1::bigint[]) and ($2::text is null or projection = $2)
    returning position::text`,
  applied: 'delete from payfold.projection_errors where projection = $1 and position = $2',
  stillFailing: `
    update payfold.projection_errors set error = $3, occurred_at = now() where projection = $1 and position = $2`,
} as const;

const maxErrorLength = 1000;

/** One line for `payfold.projection_errors`: a payload that fails a schema names the fields. */
export const describeError = (error: unknown): string => {
  const text =
    error instanceof ZodError
      ? `unreadable Stripe object: ${error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`
      : error instanceof Error
        ? error.message
        : String(error);
  // One line, of a size a table and a log line can carry (a hostile payload's zod issues need not be).
  const line = text.replace(/\s+/g, ' ');
  return line.length > maxErrorLength ? `${line.slice(0, maxErrorLength - 1)}…` : line;
};

/**
 * Whether applying the entry again would fail the same way: a payload no schema reads, a value
 * Postgres refuses (SQLSTATE class 22, data exceptions), or Payfold's own refusal. Those are
 * parked. Anything else with a SQLSTATE (a deadlock, a lock or statement timeout, a serialization
 * failure, a lost connection, an exception from a user's trigger on `payments.*`) says nothing
 * about the entry: the batch is rolled back and tried again, so that a real event is never
 * skipped because the database had a bad moment.
 */
export const willAlwaysFail = (error: unknown): boolean => {
  if (error instanceof ZodError) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('22');
};

/**
 * Applies entries in one go; if that fails, entry by entry, parking the ones that fail (see the
 * runner) so that one bad payload never holds the others back.
 */
export const applyOrPark = async (
  client: pg.PoolClient,
  projector: Projector,
  entries: readonly LogEntry[],
  report: ParkingReport,
): Promise<void> => {
  await client.query('savepoint projection_batch');
  try {
    await projector.apply(client, entries);
    await client.query('release savepoint projection_batch');
    return;
  } catch {
    await client.query('rollback to savepoint projection_batch');
  }
  for (const entry of entries) {
    await client.query('savepoint projection_entry');
    try {
      await projector.apply(client, [entry]);
      await client.query('release savepoint projection_entry');
    } catch (error) {
      await client.query('rollback to savepoint projection_entry');
      await parkEntry(client, projector, entry, error, report);
    }
  }
};

/** What parking reports to: the log, the metrics, and whoever counts what a rebuild parked. */
export interface ParkingReport {
  logger: Logger;
  metrics?: ProjectionMetrics | undefined;
  onParked?: ((entry: LogEntry) => void) | undefined;
}

/**
 * Records that the projector cannot apply an entry, when applying it again would fail the same way
 * (`willAlwaysFail`); rethrows any other error, which says nothing about the entry.
 */
export const parkEntry = async (
  client: pg.PoolClient,
  projector: Projector,
  entry: LogEntry,
  error: unknown,
  report: ParkingReport,
): Promise<void> => {
  if (!willAlwaysFail(error)) throw error;
  const message = describeError(error);
  await client.query(statements.park, [
    projector.name,
    entry.position.toString(),
    entry.transactionId.toString(),
    entry.type,
    message,
  ]);
  report.metrics?.entryParked(projector.name);
  report.onParked?.(entry);
  report.logger.error(
    { projection: projector.name, position: entry.position.toString(), err: { message } },
    'log entry parked: the projector could not apply it',
  );
};

const positionsOf = (rows: Array<{ position: string }>) => new Set(rows.map((row) => BigInt(row.position)));

/** The positions of a projection's dismissed entries, which rebuilds pass over. */
export const dismissedPositions = async (pool: pg.Pool, projection: string): Promise<Set<bigint>> =>
  positionsOf((await pool.query<{ position: string }>(statements.dismissedPositions, [projection])).rows);

/** The positions of a projection's parked entries (not dismissed). */
export const parkedPositions = async (pool: pg.Pool, projection: string): Promise<Set<bigint>> =>
  positionsOf((await pool.query<{ position: string }>(statements.parkedPositions, [projection])).rows);

/**
 * After a rebuild through `through`: the parked entries it read and applied without parking them
 * again are parked no more (the projector was fixed). Returns how many.
 */
export const clearAppliedEntries = async (
  client: pg.PoolClient,
  projection: string,
  through: LogCheckpoint,
  parkedAgain: ReadonlySet<bigint>,
): Promise<number> =>
  (
    await client.query(statements.clearApplied, [
      projection,
      through.transactionId.toString(),
      through.position.toString(),
      [...parkedAgain].map(String),
    ])
  ).rowCount ?? 0;

/**
 * Marks parked entries as dismissed (an admin's decision that they will never apply), or with
 * `undo` parked again: in every projection, or in the one named. Nothing leaves the log. Returns
 * the positions found, and those not parked anywhere asked.
 */
export const dismissParkedEntries = async (
  pool: pg.Pool,
  positions: readonly number[],
  options: { projection?: string | undefined; undo?: boolean | undefined },
): Promise<{ changed: number[]; notParked: number[] }> => {
  const { rows } = await pool.query<{ position: string }>(statements.dismiss, [
    positions.map(String),
    options.projection ?? null,
    options.undo === true,
  ]);
  const found = new Set(rows.map((row) => Number(row.position)));
  return {
    changed: positions.filter((position) => found.has(position)),
    notParked: positions.filter((position) => !found.has(position)),
  };
};

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
      await client.query(checkpointStatements.lock, [projector.name]);
      const { rows } = await client.query<{ position: string; transaction_id: string }>(statements.parked, [
        projector.name,
      ]);
      const entries = await options.log.entriesAt(rows.map(checkpointOfRow));
      for (const entry of entries) {
        summary.retried += 1;
        await client.query('savepoint parked_entry');
        try {
          await client.query(checkpointStatements.markLogPosition, [entry.position.toString()]);
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
