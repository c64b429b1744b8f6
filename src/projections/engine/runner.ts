import type pg from 'pg';
import type { Logger } from 'pino';
import { checkpointOf, isLogStart, type LogCheckpoint, logStart } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointOfRow, checkpointStatements as statements } from './checkpoints.js';
import { type BuildTarget, buildFromStart, buildStatements } from './from-start.js';
import { Leadership } from './leadership.js';
import { applyOrPark } from './parked.js';
import type { ProjectionMetrics, Projector } from './projector.js';

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
      await this.options.pool.query(statements.ensure, [projector.name, projector.version]);
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
        await this.options.pool.query(statements.ensure, [projector.name, projector.version]);
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
      statements.read,
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
   * Builds every projection that is at the start of the log and has a build path from the whole
   * log, in one pass read
   * once for all of them (`buildFromStart`): each in a transaction of its own that moves its
   * checkpoint to the last entry read. A projection whose build fails is rolled back and left to
   * batches, which park what cannot be applied.
   */
  private async rebuildFromStart(): Promise<void> {
    const started: BuildTarget[] = [];
    const committed = new Set<BuildTarget>();
    const startedAt = performance.now();
    try {
      for (const projector of this.options.projectors) {
        // Without a build path of its own, a projection is applied by batches from the start.
        if (!projector.rebuild || !this.leads(projector)) continue;
        await this.options.pool.query(statements.ensure, [projector.name, projector.version]);
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
        started.push({ projector, client });
      }
      if (started.length === 0) return;
      const { through: end, read } = await buildFromStart(started, {
        ...this.options,
        readSize: this.rebuildReadSize,
        goOn: () => {
          if (this.stopped) throw new Error('the runner stopped');
        },
      });
      if (!end) return;
      await Promise.all(
        started.map(async (target) => {
          if (target.failed) return;
          const { projector, client } = target;
          try {
            await client.query(statements.save, [
              projector.name,
              end.transactionId.toString(),
              end.position.toString(),
            ]);
            await client.query('commit');
            committed.add(target);
            this.options.metrics?.batchApplied(
              projector.name,
              read,
              (performance.now() - startedAt) / 1000,
              end.position,
            );
          } catch (error) {
            target.failed = error as Error;
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
      for (const target of started) {
        if (!committed.has(target)) await target.client.query('rollback').catch(() => undefined);
        target.client.off('error', ignoreConnectionError);
        target.client.release(target.failed);
      }
    }
  }

  /** Opens a rebuild's transaction; false when another process has moved the checkpoint meanwhile. */
  private async beginRebuild(client: pg.PoolClient, projector: Projector): Promise<boolean> {
    await client.query('begin');
    await client.query(buildStatements.unhurriedCommit);
    const { rows } = await client.query<{ transaction_id: string; position: string }>(statements.lock, [
      projector.name,
    ]);
    const row = rows[0];
    return row !== undefined && row.transaction_id === '0' && row.position === '0';
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
    if (entries.length === 0) {
      // Caught up (its last batch may have been full): the next entries come in small batches.
      this.nextBatchSize.set(projector.name, this.batchSize);
      return 0;
    }
    const client = await this.options.pool.connect();
    // A connection that dies mid-batch reports here as well as through the failing query.
    client.on('error', ignoreConnectionError);
    let broken: Error | undefined;
    try {
      await client.query('begin');
      const { rows } = await client.query<{ transaction_id: string; position: string }>(statements.lock, [
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
        await client.query(statements.markLogPosition, [last.position.toString()]);
        await applyOrPark(client, projector, relevant, this.options);
      }
      const to = checkpointOf(last);
      await client.query(statements.save, [
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
