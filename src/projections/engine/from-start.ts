import v8 from 'node:v8';
import type pg from 'pg';
import type { Logger } from 'pino';
import { checkpointOf, type LogCheckpoint, type LogEntry, logStart } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointStatements } from './checkpoints.js';
import { readLogAhead, rescanThrough } from './log-reading.js';
import { applyOrPark, parkEntry } from './parked.js';
import type { ProjectionMetrics, Projector } from './projector.js';

export const buildStatements = {
  // A build that dies is done again from the start, so its commit need not wait for the disk.
  unhurriedCommit: 'set local synchronous_commit = off',
} as const;

/** A projection built from the whole log through a client of its own: its live tables, or their shadows. */
export interface BuildTarget {
  projector: Projector;
  client: pg.PoolClient;
  /** Build by batches even when the projector has a build path (after the build path failed). */
  byBatches?: boolean;
  /** Entries it passes over: those an admin dismissed. */
  skip?: ReadonlySet<bigint>;
  /** Filled in: the entries it parked. */
  parked?: Set<bigint>;
  /** Set when it failed: it is fed no more, and its caller rolls it back. */
  failed?: Error;
}

export interface BuildFromStartOptions {
  log: EventLog;
  logger: Logger;
  metrics?: ProjectionMetrics | undefined;
  /** Entries per read of the log (default 1,000). */
  readSize?: number | undefined;
  /** Told how many entries have been read, after each chunk. */
  onRead?: (entries: number) => void;
  /** Asked before each chunk: throwing stops the build (a runner that is stopping). */
  goOn?: () => void;
}

/**
 * While a build runs, V8 grows the heap by at most 35% of what is live. A build makes garbage fast
 * (every entry parsed, once or twice), and V8's own rule then let the heap grow to several times
 * what was live: a 250,000-entry catch-up peaked at 352–363 MB of RSS, and 195–203 MB this way,
 * for about 9% more time (README, "Where the time goes"). A share of what is live, not a fixed
 * cap, so that a larger account still fits. The flag is process-wide: builds that overlap (a
 * runner's and a rebuild's in one process) count themselves, and the last one out restores V8's
 * own rule (0).
 */
const buildHeapGrowingPercent = 35;
let buildsRunning = 0;
const withBuildHeap = async <T>(build: () => Promise<T>): Promise<T> => {
  if (buildsRunning === 0) v8.setFlagsFromString(`--heap-growing-percent=${buildHeapGrowingPercent}`);
  buildsRunning += 1;
  try {
    return await build();
  } finally {
    buildsRunning -= 1;
    if (buildsRunning === 0) v8.setFlagsFromString('--heap-growing-percent=0');
  }
};

const relevant = ({ projector, skip }: BuildTarget, entries: readonly LogEntry[]) =>
  entries.filter((entry) => projector.entryTypes.includes(entry.type) && !skip?.has(entry.position));

/**
 * The one way projections are built from the start of the log: on a first start (the runner, into
 * the live tables), by `payfold rebuild` and after a projector's code changed (into shadow tables).
 * The log is read once for all the targets, in large chunks, and each chunk goes to each target
 * through its client: to its projector's build path (`Projector.rebuild`, which parks an entry it
 * cannot read), or, without one, applied as a batch would be (parking what fails); then each build
 * path's second pass reads the log again. Dismissed entries are passed over.
 * A target that fails is marked and fed no more; the others go on. Returns where the log was read
 * to (undefined for an empty log) and how many entries were read.
 */
export const buildFromStart = (
  targets: BuildTarget[],
  options: BuildFromStartOptions,
): Promise<{ through: LogCheckpoint | undefined; read: number }> =>
  withBuildHeap(() => buildEveryTarget(targets, options));

const buildEveryTarget = async (
  targets: BuildTarget[],
  options: BuildFromStartOptions,
): Promise<{ through: LogCheckpoint | undefined; read: number }> => {
  const size = options.readSize ?? 1000;
  const parking = (target: BuildTarget) => ({
    ...options,
    onParked: (entry: LogEntry) => {
      target.parked ??= new Set();
      target.parked.add(entry.position);
    },
  });
  const folds = new Map(
    targets.map((target) => [
      target,
      target.byBatches
        ? undefined
        : target.projector.rebuild?.(target.client, (entry, error) =>
            parkEntry(target.client, target.projector, entry, error, parking(target)),
          ),
    ]),
  );
  const attempt = async (target: BuildTarget, work: () => Promise<void>) => {
    if (target.failed) return;
    try {
      await work();
    } catch (error) {
      target.failed = error as Error;
    }
  };
  let through: LogCheckpoint | undefined;
  let read = 0;
  await readLogAhead(options.log, logStart, size, async (entries) => {
    options.goOn?.();
    const last = entries.at(-1) as LogEntry;
    read += entries.length;
    through = checkpointOf(last);
    await Promise.all(
      targets.map((target) =>
        attempt(target, async () => {
          const mine = relevant(target, entries);
          if (mine.length === 0) return;
          await target.client.query(checkpointStatements.markLogPosition, [last.position.toString()]);
          const fold = folds.get(target);
          if (fold) await fold.add(mine);
          else await applyOrPark(target.client, target.projector, mine, parking(target));
        }),
      ),
    );
    options.onRead?.(read);
    return targets.some((target) => !target.failed);
  });
  const end = through as LogCheckpoint | undefined;
  if (!end) return { through: undefined, read };
  const rescan = rescanThrough(options.log, end, size);
  await Promise.all(
    targets.map((target) =>
      attempt(target, async () => {
        const fold = folds.get(target);
        if (!fold) return;
        await target.client.query(checkpointStatements.markLogPosition, [end.position.toString()]);
        await fold.finish((visit) => rescan((entries) => visit(relevant(target, entries))));
      }),
    ),
  );
  return { through: end, read };
};
