import type pg from 'pg';
import type { Logger } from 'pino';
import { checkpointOf, isAtOrBefore, type LogCheckpoint, logStart } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointOfRow, checkpointStatements } from './checkpoints.js';
import { type BuildTarget, buildFromStart, buildStatements } from './from-start.js';
import { readLogAhead } from './log-reading.js';
import {
  applyOrPark,
  clearAppliedEntries,
  describeError,
  dismissedPositions,
  type ParkingReport,
  willAlwaysFail,
} from './parked.js';
import type { Projector } from './projector.js';
import { type ParkedEntry, recentParkedEntries } from './status.js';

/** The schema the shadow copies live in while a rebuild runs (migration 0007). */
const shadowSchema = 'payfold_rebuild';

const statements = {
  // One rebuild at a time in the cluster's database, whatever the process.
  lock: 'select pg_advisory_lock(7402711002)',
  unlock: 'select pg_advisory_unlock(7402711002)',
  prepareShadow: 'select payfold.prepare_rebuild_shadow($1::text[])',
  dropShadow: 'select payfold.drop_rebuild_shadow()',
  applyTable: 'select inserted, updated, deleted from payfold.apply_rebuilt_table($1::regclass, $2)',
  compareTable:
    'select missing, differing, extra, differing_columns from payfold.compare_rebuilt_table($1::regclass)',
  recordRebuild: `
    insert into payfold.projection_rebuilds (projection, reason, quiet, started_at, entries, changes)
    values ($1, $2, $3, $4, $5, $6)`,
} as const;

/**
 * The client a projector writes its shadow tables through: the same statements, each table name
 * it writes (`payments.products`, `payfold.subject_pairings`) moved into the shadow schema. Its
 * tables are named in every statement, so the projector's code is the same for both.
 */
const shadowClient = (client: pg.PoolClient, projector: Projector): pg.PoolClient => {
  const names = projector.tables.map((table) => table.replace('.', '\\.'));
  const tableName = new RegExp(`\\b(${names.join('|')})\\b`, 'g');
  const relocate = (text: string) =>
    text.replace(tableName, (table) => `${shadowSchema}.${table.slice(table.indexOf('.') + 1)}`);
  const query = (config: string | pg.QueryConfig, values?: unknown[]) =>
    typeof config === 'string'
      ? client.query(relocate(config), values)
      : client.query(
          { ...config, text: relocate(config.text), ...(config.name && { name: `${config.name}_shadow` }) },
          values,
        );
  return new Proxy(client, {
    get: (target, property, receiver) =>
      property === 'query' ? query : Reflect.get(target, property, receiver),
  });
};

export interface TableChanges {
  inserted: number;
  updated: number;
  deleted: number;
}

/** How a live table differs from what the log builds (a dry run). */
export interface TableDrift {
  /** Rows the log builds that the table lacks. */
  missing: number;
  /** Rows whose columns differ, and which columns. */
  differing: number;
  differingColumns: string[];
  /** Rows the log does not support. */
  extra: number;
}

export interface RebuildSummary {
  projection: string;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  /** Rows the live tables changed by, per table. */
  changes: Record<string, TableChanges>;
  /**
   * The entries the projector could not apply, parked (as the live runner parks them) and passed
   * over; dismissed ones are not among them.
   */
  parkedEntries: ParkedEntry[];
  /** Entries parked before that this rebuild applied (the projector was fixed): parked no more. */
  unparked: number;
  /** With `dryRun`: nothing changed; the payments tables that differ from what the log builds. */
  drift?: Record<string, TableDrift>;
}

export type RebuildProgress =
  | { projection: string; phase: 'building'; entries: number }
  | { projection: string; phase: 'applying' };

export interface RebuildOptions {
  pool: pg.Pool;
  log: EventLog;
  logger: Logger;
  projectors: readonly Projector[];
  /** Apply the difference with user triggers off (repairs that must not re-run fulfillment). */
  quiet?: boolean;
  /** Why: `command`, `admin`, `version` (a projector's code changed). */
  reason: string;
  onProgress?: (progress: RebuildProgress) => void;
  /** Entries per read of the log (default 1,000). */
  readSize?: number;
  /** Compare the live tables with what the log builds, and change nothing (reconcile's dry run). */
  dryRun?: boolean;
}

/**
 * Applies through `client` the projector's entries the log holds after `from` (up to `until`, when
 * given): the shadow catching up with the log, and a dry run's live tables catching up with the
 * shadow. Returns where it read to and how many entries it read.
 */
const applyLogAfter = async (
  client: pg.PoolClient,
  projector: Projector,
  options: RebuildOptions & ParkingReport & { skip: ReadonlySet<bigint> },
  from: LogCheckpoint,
  until?: LogCheckpoint,
): Promise<{ through: LogCheckpoint; read: number }> => {
  let through = from;
  let read = 0;
  await readLogAhead(options.log, from, options.readSize ?? 1000, async (entries) => {
    const upTo = until ? entries.filter((entry) => isAtOrBefore(checkpointOf(entry), until)) : entries;
    const last = upTo.at(-1);
    if (!last) return false;
    read += upTo.length;
    through = checkpointOf(last);
    const mine = upTo.filter(
      (entry) => projector.entryTypes.includes(entry.type) && !options.skip.has(entry.position),
    );
    if (mine.length > 0) await applyOrPark(client, projector, mine, options);
    return upTo.length === entries.length;
  });
  return { through, read };
};

/** The projection's parked entries, at most a hundred (dismissed ones left out). */
const parkedEntriesOf = async (pool: pg.Pool, projector: Projector): Promise<ParkedEntry[]> =>
  (await recentParkedEntries(pool, 100, projector.name)).filter((entry) => entry.dismissedAt === null);

interface ShadowBuild {
  projector: Projector;
  client: pg.PoolClient;
  /** Entries it passes over: those an admin dismissed. */
  skip: ReadonlySet<bigint>;
}

interface BuiltShadow {
  through: LogCheckpoint;
  read: number;
  parked: ReadonlySet<bigint>;
}

/**
 * Builds the shadow tables of several projections from one read of the log, each in a transaction
 * of its own on its own client, passing dismissed entries over. When a projector's build path fails
 * in a way that would fail again (a row its table cannot build, say), its shadow is built again by
 * batches, which park each entry that fails and apply the rest, as the live runner does: one bad
 * entry never stops a rebuild.
 */
const buildShadows = async (builds: ShadowBuild[], options: RebuildOptions): Promise<BuiltShadow[]> => {
  const done = new Map<Projector, BuiltShadow>();
  let pending = builds;
  for (const byBatches of [false, true]) {
    if (pending.length === 0) break;
    const targets: BuildTarget[] = [];
    for (const { projector, client, skip } of pending) {
      await client.query('begin');
      await client.query(buildStatements.unhurriedCommit);
      targets.push({ projector, client: shadowClient(client, projector), byBatches, skip });
    }
    const building = pending;
    const built = await buildFromStart(targets, {
      ...options,
      onRead: (entries) => {
        for (const { projector } of building)
          options.onProgress?.({ projection: projector.name, phase: 'building', entries });
      },
    });
    const again: ShadowBuild[] = [];
    for (const [index, build] of building.entries()) {
      const target = targets[index] as BuildTarget;
      if (!target.failed) {
        await build.client.query('commit');
        done.set(build.projector, {
          through: built.through ?? logStart,
          read: built.read,
          parked: target.parked ?? new Set(),
        });
        continue;
      }
      // Rolled back, its shadow tables are empty again for the build by batches.
      await build.client.query('rollback');
      if (byBatches || !willAlwaysFail(target.failed)) throw target.failed;
      options.logger.warn(
        { projection: build.projector.name, err: { message: describeError(target.failed) } },
        'rebuild: the build path failed; building by batches, which park what cannot be applied',
      );
      again.push(build);
    }
    pending = again;
  }
  return builds.map((build) => done.get(build.projector) as BuiltShadow);
};

/**
 * How many projections one read of the log builds at once: each holds a connection for the length
 * of its build, and half the pool, beyond the lock's and the log reads' two, stays free for others
 * (the live runner, the HTTP side).
 */
const buildsAtOnce = (pool: pg.Pool): number => Math.max(1, Math.floor(((pool.options.max ?? 10) - 2) / 2));

/**
 * Rebuilds projections without downtime. For each one: its tables are built from the log into
 * shadow copies (the live tables keep serving reads, the live runner keeps projecting), several
 * projections from one read of the log; then, in one short transaction that holds the projection's
 * checkpoint, the shadow catches up with the log, each live table is made equal to its copy by
 * writing only the rows that differ (so user triggers fire for real changes only, and user
 * policies, grants and triggers stay as they are), and the checkpoint moves to where the shadow
 * stands. An interrupted rebuild leaves the live tables as they were; the next one starts over.
 */
export const rebuildProjections = async (options: RebuildOptions): Promise<RebuildSummary[]> => {
  // The lock's connection, the rebuild's transaction and the log's reads (at least three).
  if ((options.pool.options.max ?? 10) < 3)
    throw new Error('a rebuild needs a pool of at least 3 connections');
  const { pool } = options;
  const locker = await pool.connect();
  try {
    await locker.query(statements.lock);
    const summaries: RebuildSummary[] = [];
    const width = buildsAtOnce(pool);
    for (let at = 0; at < options.projectors.length; at += width) {
      summaries.push(...(await rebuildTogether(options.projectors.slice(at, at + width), options)));
    }
    return summaries;
  } finally {
    await locker.query(statements.unlock).catch(() => undefined);
    locker.release();
  }
};

/** How each payments table of a projection differs from its shadow, by table (only those that do). */
const driftOfLiveTables = async (
  client: pg.PoolClient,
  projector: Projector,
): Promise<Record<string, TableDrift>> => {
  const drift: Record<string, TableDrift> = {};
  for (const table of projector.tables) {
    if (!table.startsWith('payments.')) continue;
    const { rows } = await client.query<{
      missing: string;
      differing: string;
      extra: string;
      differing_columns: string[];
    }>(statements.compareTable, [table]);
    const row = rows[0];
    const found = {
      missing: Number(row?.missing ?? 0),
      differing: Number(row?.differing ?? 0),
      extra: Number(row?.extra ?? 0),
      differingColumns: row?.differing_columns ?? [],
    };
    if (found.missing + found.differing + found.extra > 0) drift[table] = found;
  }
  return drift;
};

/** Makes each live table of a projection equal its shadow; what changed, by table. */
const applyShadows = async (
  client: pg.PoolClient,
  projector: Projector,
  quiet: boolean,
): Promise<Record<string, TableChanges>> => {
  const changes: Record<string, TableChanges> = {};
  for (const table of projector.tables) {
    const { rows } = await client.query<{ inserted: string; updated: string; deleted: string }>(
      statements.applyTable,
      [table, quiet],
    );
    const row = rows[0];
    changes[table] = {
      inserted: Number(row?.inserted ?? 0),
      updated: Number(row?.updated ?? 0),
      deleted: Number(row?.deleted ?? 0),
    };
  }
  return changes;
};

/** Builds the shadows of these projections from one read of the log, then applies each in turn. */
const rebuildTogether = async (
  projectors: readonly Projector[],
  options: RebuildOptions,
): Promise<RebuildSummary[]> => {
  const { pool } = options;
  const startedAt = new Date();
  const started = performance.now();
  for (const projector of projectors)
    await pool.query(checkpointStatements.ensure, [projector.name, projector.version]);
  await pool.query(statements.prepareShadow, [projectors.flatMap((projector) => projector.tables)]);
  const builds: ShadowBuild[] = [];
  let broken: Error | undefined;
  try {
    for (const projector of projectors) {
      // Connected last, so that a client is never taken without being listed for release.
      const skip = await dismissedPositions(pool, projector.name);
      builds.push({ projector, client: await pool.connect(), skip });
    }
    const built = await buildShadows(builds, options);
    const summaries: RebuildSummary[] = [];
    for (const [index, build] of builds.entries()) {
      summaries.push(await applyRebuilt(build, built[index] as BuiltShadow, options, { startedAt, started }));
    }
    return summaries;
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A client whose transaction an error left open is closed, not returned to the pool.
    for (const { client } of builds) client.release(broken);
    await pool.query(statements.dropShadow).catch(() => undefined);
  }
};

/**
 * One projection's shadow, built: in one transaction holding its checkpoint, caught up with the
 * log and applied to the live tables (or, in a dry run, compared with them and rolled back).
 */
const applyRebuilt = async (
  { projector, client, skip }: ShadowBuild,
  built: BuiltShadow,
  options: RebuildOptions,
  { startedAt, started }: { startedAt: Date; started: number },
): Promise<RebuildSummary> => {
  const { pool } = options;
  // Every entry this rebuild parks, in the build and in the catch-up after it.
  const parked = new Set(built.parked);
  const parking = {
    ...options,
    skip,
    onParked: (entry: { position: bigint }) => parked.add(entry.position),
  };
  options.onProgress?.({ projection: projector.name, phase: 'applying' });
  await client.query('begin');
  try {
    // Holding the checkpoint keeps the live runner out until the live tables are the shadow's.
    const { rows: locked } = await client.query<{ transaction_id: string; position: string }>(
      checkpointStatements.lock,
      [projector.name],
    );
    const more = await applyLogAfter(shadowClient(client, projector), projector, parking, built.through);
    const { through } = more;
    const entries = built.read + more.read;
    if (options.dryRun) {
      // The live tables may lag the log the shadow has read: they are brought to the same entry
      // in this transaction, which the dry run rolls back, so that only real drift is reported.
      const live = locked[0];
      if (live && !isAtOrBefore(through, checkpointOfRow(live))) {
        await client.query(checkpointStatements.markLogPosition, [through.position.toString()]);
        await applyLogAfter(client, projector, parking, checkpointOfRow(live), through);
      }
      const drift = await driftOfLiveTables(client, projector);
      await client.query('rollback');
      const seconds = (performance.now() - started) / 1000;
      return {
        projection: projector.name,
        entries,
        seconds: Number(seconds.toFixed(2)),
        entriesPerSecond: Math.round(entries / seconds),
        changes: {},
        drift,
        parkedEntries: await parkedEntriesOf(pool, projector),
        unparked: 0,
      };
    }
    await client.query(checkpointStatements.markLogPosition, [through.position.toString()]);
    const changes = await applyShadows(client, projector, options.quiet === true);
    const unparked = await clearAppliedEntries(client, projector.name, through, parked);
    await client.query(checkpointStatements.saveRebuilt, [
      projector.name,
      through.transactionId.toString(),
      through.position.toString(),
      projector.version,
    ]);
    await client.query(statements.recordRebuild, [
      projector.name,
      options.reason,
      options.quiet === true,
      startedAt,
      entries,
      JSON.stringify(changes),
    ]);
    await client.query('commit');
    const seconds = (performance.now() - started) / 1000;
    options.logger.info(
      { projection: projector.name, entries, seconds, changes, unparked },
      'projection rebuilt',
    );
    return {
      projection: projector.name,
      entries,
      seconds: Number(seconds.toFixed(2)),
      entriesPerSecond: Math.round(entries / seconds),
      changes,
      parkedEntries: await parkedEntriesOf(pool, projector),
      unparked,
    };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
};

/** The projections whose tables were built by an older version of their code than this one. */
export const outdatedProjections = async (
  pool: pg.Pool,
  projectors: readonly Projector[],
): Promise<Projector[]> => {
  const { rows } = await pool.query<{ projection: string; projector_version: number; position: string }>(
    checkpointStatements.versions,
  );
  const stored = new Map(rows.map((row) => [row.projection, row]));
  return projectors.filter((projector) => {
    const row = stored.get(projector.name);
    // A projection at the start of the log is built by the runner anyway.
    return row !== undefined && row.position !== '0' && row.projector_version < projector.version;
  });
};
