import type pg from 'pg';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import {
  checkpointOf,
  type EventLog,
  isAtOrBefore,
  isLogStart,
  type LogCheckpoint,
  type LogEntry,
  logStart,
} from '../domain/event-log.js';
import { Leadership } from './leadership.js';
import type { ProjectionRebuild, Projector, Rescan } from './projector.js';

// A new checkpoint is built by this code: it records the projector's version (see rebuild.ts).
const ensureCheckpointSql = `
  insert into payfold.projection_checkpoints (projection, projector_version) values ($1, $2)
  on conflict (projection) do nothing`;
// Locking the checkpoint row makes one process at a time advance a projection, so two
// `payfold serve` processes never apply the same entry twice.
const lockCheckpointSql = `
  select transaction_id::text, position::text
  from payfold.projection_checkpoints where projection = $1 for update`;
const readCheckpointSql =
  'select transaction_id::text, position::text from payfold.projection_checkpoints where projection = $1';
const saveCheckpointSql = `
  update payfold.projection_checkpoints
  set transaction_id = $2::xid8, position = $3, updated_at = now()
  where projection = $1`;
// Changes captured for subscribers (payfold.row_changes) name the log position behind them.
export const markLogPositionSql = "select set_config('payfold.log_position', $1, true)";
const parkEntrySql = `
  insert into payfold.projection_errors (projection, position, transaction_id, entry_type, error)
  values ($1, $2, $3::xid8, $4, $5)
  on conflict (projection, position) do update set error = excluded.error, occurred_at = now()`;

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

/** What the runner reports (Prometheus, in `payfold serve`). */
export interface ProjectionMetrics {
  /** A batch committed: how many log entries it consumed, how long it took, where it left the checkpoint. */
  batchApplied(projection: string, entries: number, seconds: number, position: bigint): void;
  entryParked(projection: string): void;
  /** A batch rolled back by an error that parks nothing (a deadlock, a timeout, a trigger): it is tried again. */
  batchFailed(projection: string): void;
}

export interface ProjectionRunnerOptions {
  pool: pg.Pool;
  log: EventLog;
  projectors: readonly Projector[];
  logger: Logger;
  metrics?: ProjectionMetrics;
  /** Entries read by a batch while the projection keeps up with the log (default 200). */
  batchSize?: number;
  /**
   * The most entries one batch reads while the projection is behind (default 4,000): each full
   * batch doubles the next one up to this, and the first batch that is not full goes back to
   * `batchSize`. Fewer, larger transactions catch up faster (4,000 against 1,000 measured about a
   * tenth more webhooks a second into the tables, `npm run bench -- --only webhook_to_row`); small
   * ones keep a live batch short.
   */
  maxBatchSize?: number;
  /** Entries per read while a projection is rebuilt from the start of the log (default 1,000). */
  rebuildReadSize?: number;
  /**
   * Run only the projections this process leads (one advisory lock each), taking over those whose
   * leader dies, retrying every `retryMs`: for several processes on one database.
   */
  leadership?: { retryMs?: number };
}

const ignoreConnectionError = () => undefined;

/** A place in the log as Postgres returns it (`xid8` and `bigint` as text), exactly. */
export const checkpointOfRow = (row: { transaction_id: string; position: string }): LogCheckpoint => ({
  transactionId: BigInt(row.transaction_id),
  position: BigInt(row.position),
});

/**
 * Reads the log from a checkpoint in chunks, the next chunk on its way while `visit` works on this
 * one, until the log has no more or `visit` says stop.
 */
export const readLogAhead = async (
  log: EventLog,
  from: LogCheckpoint,
  size: number,
  visit: (entries: readonly LogEntry[]) => Promise<boolean>,
): Promise<void> => {
  let next = log.readAll(from, size);
  for (;;) {
    const entries = await next;
    const last = entries.at(-1);
    if (!last) return;
    next = log.readAll(checkpointOf(last), size);
    // Settled by the next turn of the loop, or dropped with the reader.
    next.catch(() => undefined);
    if (!(await visit(entries))) return;
  }
};

/**
 * The log again from its start up to `end`, the last entry a rebuild's first pass read: the second
 * pass of a projector's rebuild path (`ProjectionRebuild.finish`).
 */
export const rescanThrough =
  (log: EventLog, end: LogCheckpoint, size: number): Rescan =>
  (visit) =>
    readLogAhead(log, logStart, size, async (entries) => {
      const upToEnd = entries.filter((entry) => isAtOrBefore(checkpointOf(entry), end));
      const last = upToEnd.at(-1);
      if (last) await visit(upToEnd);
      return last !== undefined && upToEnd.length === entries.length && last.position !== end.position;
    });

/**
 * Applies entries in one go; if that fails, entry by entry, parking the ones that fail (see the
 * runner) so that one bad payload never holds the others back.
 */
export const applyOrPark = async (
  client: pg.PoolClient,
  projector: Projector,
  entries: readonly LogEntry[],
  report: { logger: Logger; metrics?: ProjectionMetrics },
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
      if (!willAlwaysFail(error)) throw error;
      const message = describeError(error);
      await client.query(parkEntrySql, [
        projector.name,
        entry.position.toString(),
        entry.transactionId.toString(),
        entry.type,
        message,
      ]);
      report.metrics?.entryParked(projector.name);
      report.logger.error(
        { projection: projector.name, position: entry.position.toString(), err: { message } },
        'log entry parked: the projector could not apply it',
      );
    }
  }
};

/** A projection being rebuilt: its transaction, and what it has been given so far. */
interface Rebuilding {
  projector: Projector;
  client: pg.PoolClient;
  fold: ProjectionRebuild;
  committed?: boolean;
  failed?: Error;
}

/**
 * Folds the log into the projections. Each projector advances on its own checkpoint, one batch per
 * transaction: lock the checkpoint, read the entries after it, apply them, move the checkpoint,
 * commit. A crash anywhere rolls the whole batch back, so nothing is skipped or applied twice.
 *
 * An entry that a projector cannot apply is parked: recorded in `payfold.projection_errors` and
 * counted in `payfold_projection_errors_total`, and the projector continues with the next entry.
 * Stopping instead would hold every later webhook back behind one bad payload.
 */
export class ProjectionRunner {
  private readonly batchSize: number;
  private readonly maxBatchSize: number;
  private readonly rebuildReadSize: number;
  /** Per projector, the size of its next batch. */
  private readonly nextBatchSize = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly wakeAgain = new Set<string>();
  /** Per projector, how many batches in a row have failed without parking (for the backoff). */
  private readonly failures = new Map<string, number>();
  /** Ends the pauses between failed batches, so that stopping never waits one out. */
  private readonly pauses = new Set<() => void>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private leadership: Leadership | undefined;
  private rebuilding: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: ProjectionRunnerOptions) {
    // Small enough that parsing one batch never stalls the webhook route for long.
    this.batchSize = options.batchSize ?? 200;
    this.maxBatchSize = Math.max(this.batchSize, options.maxBatchSize ?? 4000);
    this.rebuildReadSize = options.rebuildReadSize ?? 1000;
  }

  async start(): Promise<void> {
    for (const projector of this.options.projectors) {
      await this.options.pool.query(ensureCheckpointSql, [projector.name, projector.version]);
    }
    if (this.options.leadership) {
      this.leadership = new Leadership(
        'projection',
        this.options.projectors.map((projector) => projector.name),
        { pool: this.options.pool, logger: this.options.logger, ...this.options.leadership },
        () => this.wake(),
      );
      await this.leadership.start();
    }
    this.unsubscribe = this.options.log.subscribe(() => this.wake());
    // Batches wait for it; a failed rebuild leaves them to start from the beginning of the log.
    this.rebuilding = this.rebuildFromStart().catch((error: Error) =>
      this.options.logger.warn(
        { err: { message: error.message } },
        'rebuild from the start of the log failed',
      ),
    );
    this.wake();
  }

  /**
   * Runs every projector until it has applied every entry committed when it was called, waiting
   * for entries that other open transactions in the cluster still hold back from readers.
   */
  async catchUp(): Promise<void> {
    const head = await this.options.log.headPosition();
    await this.rebuildFromStart();
    // Projectors advance on checkpoints of their own, so they catch up side by side.
    await Promise.all(
      this.options.projectors.map(async (projector) => {
        await this.options.pool.query(ensureCheckpointSql, [projector.name, projector.version]);
        for (;;) {
          if ((await this.runBatch(projector)) > 0) continue;
          if (!(await this.options.log.hasEntriesAfter(await this.checkpoint(projector), head))) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }),
    );
  }

  async checkpoint(projector: Projector): Promise<LogCheckpoint> {
    const { rows } = await this.options.pool.query<{ transaction_id: string; position: string }>(
      readCheckpointSql,
      [projector.name],
    );
    const row = rows[0];
    return row ? checkpointOfRow(row) : logStart;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const end of this.pauses) end();
    await this.unsubscribe?.();
    await this.rebuilding;
    await Promise.allSettled(this.running.values());
    await this.leadership?.stop();
  }

  /** Whether this process applies a projection's entries (always, unless leadership is on). */
  private leads(projector: Projector): boolean {
    return !this.leadership || this.leadership.leads(projector.name);
  }

  private wake(): void {
    if (this.stopped) return;
    for (const projector of this.options.projectors) {
      if (!this.leads(projector)) continue;
      if (this.running.has(projector.name)) {
        this.wakeAgain.add(projector.name);
        continue;
      }
      const run = this.drain(projector).finally(() => {
        this.running.delete(projector.name);
        if (this.wakeAgain.delete(projector.name)) this.wake();
      });
      this.running.set(projector.name, run);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.pauses.delete(end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.pauses.add(end);
    });
  }

  private async drain(projector: Projector): Promise<void> {
    try {
      await this.rebuilding;
      while (!this.stopped && this.leads(projector) && (await this.runBatch(projector)) > 0);
      this.failures.delete(projector.name);
    } catch (error) {
      // A deadlock, a timeout, a trigger's exception, Postgres unreachable: nothing was parked and
      // the checkpoint did not move; the same entries are tried again, less often while it lasts.
      const failures = (this.failures.get(projector.name) ?? 0) + 1;
      this.failures.set(projector.name, failures);
      this.options.metrics?.batchFailed(projector.name);
      this.options.logger.error(
        { projection: projector.name, failures, err: { message: (error as Error).message } },
        'projection batch failed; trying again',
      );
      await this.pause(Math.min(30_000, 100 * 2 ** Math.min(failures, 9)));
      if (!this.stopped) this.wakeAgain.add(projector.name);
    }
  }

  /**
   * Rebuilds every projection that is at the start of the log, in one pass over the log read once
   * for all of them: each in a transaction of its own that moves its checkpoint to the last entry
   * read. A projection whose rebuild fails is rolled back and left to batches, which park what
   * cannot be applied.
   */
  private async rebuildFromStart(): Promise<void> {
    const started: Rebuilding[] = [];
    const startedAt = performance.now();
    try {
      for (const projector of this.options.projectors) {
        if (!projector.rebuild || !this.leads(projector)) continue;
        await this.options.pool.query(ensureCheckpointSql, [projector.name, projector.version]);
        if (!isLogStart(await this.checkpoint(projector))) continue;
        const client = await this.options.pool.connect();
        // A connection that dies mid-rebuild reports here as well as through the failing query.
        client.on('error', ignoreConnectionError);
        if (!(await this.beginRebuild(client, projector).catch(() => false))) {
          await client.query('rollback').catch(() => undefined);
          client.off('error', ignoreConnectionError);
          client.release();
          continue;
        }
        started.push({ projector, client, fold: projector.rebuild(client) });
      }
      if (started.length === 0) return;

      let through: LogCheckpoint | undefined;
      let read = 0;
      await readLogAhead(this.options.log, logStart, this.rebuildReadSize, async (entries) => {
        if (this.stopped) throw new Error('the runner stopped');
        read += entries.length;
        through = checkpointOf(entries.at(-1) as LogEntry);
        await Promise.all(started.map((rebuilding) => this.feed(rebuilding, entries)));
        return true;
      });
      const end = through;
      if (!end) return;
      const rescan = rescanThrough(this.options.log, end, this.rebuildReadSize);
      await Promise.all(
        started.map(async (rebuilding) => {
          const { projector, client, fold } = rebuilding;
          if (rebuilding.failed) return;
          try {
            await client.query(markLogPositionSql, [end.position.toString()]);
            await fold.finish((visit) =>
              rescan((entries) =>
                visit(entries.filter((entry) => projector.entryTypes.includes(entry.type))),
              ),
            );
            await client.query(saveCheckpointSql, [
              projector.name,
              end.transactionId.toString(),
              end.position.toString(),
            ]);
            await client.query('commit');
            rebuilding.committed = true;
            this.options.metrics?.batchApplied(
              projector.name,
              read,
              (performance.now() - startedAt) / 1000,
              end.position,
            );
          } catch (error) {
            rebuilding.failed = error as Error;
          }
        }),
      );
      for (const { projector, failed } of started) {
        if (!failed) continue;
        this.options.logger.warn(
          { projection: projector.name, err: { message: failed.message } },
          'rebuild failed: applying the log in batches instead',
        );
      }
    } finally {
      for (const { client, committed, failed } of started) {
        if (!committed) await client.query('rollback').catch(() => undefined);
        client.off('error', ignoreConnectionError);
        client.release(failed);
      }
    }
  }

  /** Opens a rebuild's transaction; false when another process has moved the checkpoint meanwhile. */
  private async beginRebuild(client: pg.PoolClient, projector: Projector): Promise<boolean> {
    await client.query('begin');
    // A rebuild that dies is redone from the start, so its commit need not wait for the disk.
    await client.query('set local synchronous_commit = off');
    const { rows } = await client.query<{ transaction_id: string; position: string }>(lockCheckpointSql, [
      projector.name,
    ]);
    const row = rows[0];
    return row !== undefined && row.transaction_id === '0' && row.position === '0';
  }

  /** Gives a rebuilding projection one chunk; a failure stops feeding it. */
  private async feed(rebuilding: Rebuilding, entries: readonly LogEntry[]): Promise<void> {
    if (rebuilding.failed) return;
    const relevant = entries.filter((entry) => rebuilding.projector.entryTypes.includes(entry.type));
    if (relevant.length === 0) return;
    try {
      await rebuilding.client.query(markLogPositionSql, [(entries.at(-1) as LogEntry).position.toString()]);
      await rebuilding.fold.add(relevant);
    } catch (error) {
      rebuilding.failed = error as Error;
    }
  }

  /** Applies one batch; returns how many log entries it consumed. */
  private async runBatch(projector: Projector): Promise<number> {
    const startedAt = performance.now();
    const size = this.nextBatchSize.get(projector.name) ?? this.batchSize;
    // Read first, outside any transaction: most wakes of a live projection find nothing yet, and
    // a transaction that locks the checkpoint gets an id that holds every newer entry back from
    // every reader of the log until it ends.
    let from = await this.checkpoint(projector);
    let entries = await this.options.log.readAll(from, size);
    if (entries.length === 0) return 0;
    const client = await this.options.pool.connect();
    // A connection that dies mid-batch reports here as well as through the failing query.
    client.on('error', ignoreConnectionError);
    let broken: Error | undefined;
    try {
      await client.query('begin');
      const { rows } = await client.query<{ transaction_id: string; position: string }>(lockCheckpointSql, [
        projector.name,
      ]);
      const row = rows[0];
      if (!row) throw new Error(`no checkpoint row for projection ${projector.name}`);
      const locked = checkpointOfRow(row);
      // Another process applied a batch meanwhile: read again from where it left the checkpoint.
      if (locked.transactionId !== from.transactionId || locked.position !== from.position) {
        from = locked;
        entries = await this.options.log.readAll(from, size);
      }
      const last = entries.at(-1);
      if (!last) {
        await client.query('rollback');
        return 0;
      }
      const relevant = entries.filter((entry) => projector.entryTypes.includes(entry.type));
      if (relevant.length > 0) {
        await client.query(markLogPositionSql, [last.position.toString()]);
        await applyOrPark(client, projector, relevant, this.options);
      }
      const to = checkpointOf(last);
      await client.query(saveCheckpointSql, [
        projector.name,
        to.transactionId.toString(),
        to.position.toString(),
      ]);
      await client.query('commit');
      this.nextBatchSize.set(
        projector.name,
        entries.length === size ? Math.min(size * 2, this.maxBatchSize) : this.batchSize,
      );
      this.options.metrics?.batchApplied(
        projector.name,
        entries.length,
        (performance.now() - startedAt) / 1000,
        to.position,
      );
      return entries.length;
    } catch (error) {
      broken = error as Error;
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', ignoreConnectionError);
      // A client whose batch failed is discarded rather than returned to the pool half-broken.
      client.release(broken);
    }
  }
}
