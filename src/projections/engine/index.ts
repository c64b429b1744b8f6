import type pg from 'pg';
import type { Logger } from 'pino';
import { logStart } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import { dismissParkedEntries, type RetrySummary, retryParkedEntries } from './parked.js';
import type { Projector } from './projector.js';
import {
  outdatedProjections,
  type RebuildProgress,
  type RebuildSummary,
  rebuildProjections,
} from './rebuild.js';
import { ProjectionRunner } from './runner.js';
import { type SettleSummary, settleProjections } from './settle.js';
import {
  type ProjectionStatus,
  type ProjectionsReport,
  projectionStatuses,
  projectionsReport,
} from './status.js';

export { Leadership } from './leadership.js';
export { describeError, type RetrySummary } from './parked.js';
export type { ParkEntry, ProjectionMetrics, ProjectionRebuild, Projector, Rescan } from './projector.js';
export type { RebuildProgress, RebuildSummary, TableChanges, TableDrift } from './rebuild.js';
export { ProjectionRunner, type ProjectionRunnerOptions } from './runner.js';
export type { SettleSummary } from './settle.js';
export type { ParkedEntry, ProjectionStatus, ProjectionsReport } from './status.js';

/** What a command or a route asked of named projections: done, or the one line saying which name is unknown. */
export type NamedResult<T> = { ok: true; summaries: T[] } | { ok: false; message: string };

export interface RebuildRequest {
  /** The projections by name; all of them when none is named. */
  projections?: readonly string[] | undefined;
  /** Why: `command`, `admin`, `reconcile`, `version` (a projector's code changed). */
  reason: string;
  /** Apply the difference with user triggers off (a repair that must not re-run fulfillment). */
  quiet?: boolean | undefined;
  /** Compare the live tables with what the log builds, and change nothing. */
  dryRun?: boolean | undefined;
  onProgress?: ((progress: RebuildProgress) => void) | undefined;
}

/**
 * The projection engine as the use cases and operations see it: catch up, rebuild, retry parked
 * entries, report. `src/main` makes it for a database; the live runner (`ProjectionRunner`) is
 * started beside it by `payfold serve` and `payfold project`.
 */
export interface ProjectionEngine {
  /** Every projection brought to the log's head (the tables as of now: what reconcile compares). */
  catchUp(): Promise<void>;
  /**
   * After a command appended: the projections nobody leads applied here, those a running process
   * leads waited for (up to `timeoutMs`), so that the tables hold what was appended.
   */
  settle(timeoutMs: number): Promise<SettleSummary>;
  /** Rebuilds projections without downtime, or with `dryRun` compares them (see `rebuild.ts`). */
  rebuild(request: RebuildRequest): Promise<NamedResult<RebuildSummary>>;
  /** Rebuilds the projections an older version of their code built (after an upgrade). */
  rebuildOutdated(): Promise<RebuildSummary[]>;
  /** Applies parked entries again, in log order, after a fix (dismissed ones are passed over). */
  retryParked(projections?: readonly string[]): Promise<NamedResult<RetrySummary>>;
  /**
   * Marks parked entries as dismissed (they will never apply; rebuilds and retries pass them over),
   * or with `undo` parked again; in every projection, or the one named. Nothing leaves the log.
   */
  dismiss(
    positions: readonly number[],
    options?: { projection?: string | undefined; undo?: boolean | undefined },
  ): Promise<{ ok: true; changed: number[]; notParked: number[] } | { ok: false; message: string }>;
  statuses(): Promise<ProjectionStatus[]>;
  /** Every projection, and the latest parked entries (20 unless told). */
  report(parkedEntries?: number): Promise<ProjectionsReport>;
  /** About how many entries the log holds (a rebuild's progress bar). */
  logEntries(): Promise<number>;
}

export interface ProjectionEngineOptions {
  pool: pg.Pool;
  log: EventLog;
  logger: Logger;
  projectors: readonly Projector[];
  /** Where status and reports read (a small pool whose statements time out); the main pool otherwise. */
  status?: { pool: pg.Pool; log: EventLog };
}

export const projectionEngine = (options: ProjectionEngineOptions): ProjectionEngine => {
  const { pool, log, logger, projectors } = options;
  const status = options.status ?? { pool, log };
  const names = projectors.map((projector) => projector.name);
  const named = (names: readonly string[] | undefined) => {
    const unknown = names?.find((name) => !projectors.some((projector) => projector.name === name));
    if (unknown) {
      return {
        ok: false as const,
        message: `no projection is called ${unknown}; there are ${projectors.map((projector) => projector.name).join(', ')}`,
      };
    }
    return {
      ok: true as const,
      projectors:
        names && names.length > 0
          ? projectors.filter((projector) => names.includes(projector.name))
          : projectors,
    };
  };
  return {
    catchUp: () => new ProjectionRunner({ pool, log, projectors, logger }).catchUp(),
    settle: (timeoutMs) => settleProjections({ pool, log, logger, projectors }, timeoutMs),
    async rebuild({ projections, ...request }) {
      const chosen = named(projections);
      if (!chosen.ok) return chosen;
      return {
        ok: true,
        summaries: await rebuildProjections({ pool, log, logger, projectors: chosen.projectors, ...request }),
      };
    },
    async rebuildOutdated() {
      const outdated = await outdatedProjections(pool, projectors);
      if (outdated.length === 0) return [];
      logger.info(
        { projections: outdated.map((projector) => projector.name) },
        'projector code changed: rebuilding',
      );
      return rebuildProjections({ pool, log, logger, projectors: outdated, reason: 'version' });
    },
    async retryParked(projections) {
      const chosen = named(projections);
      if (!chosen.ok) return chosen;
      return {
        ok: true,
        summaries: await retryParkedEntries({ pool, log, logger, projectors: chosen.projectors }),
      };
    },
    async dismiss(positions, dismissal = {}) {
      if (dismissal.projection) {
        const chosen = named([dismissal.projection]);
        if (!chosen.ok) return chosen;
      }
      return { ok: true, ...(await dismissParkedEntries(pool, positions, dismissal)) };
    },
    statuses: () => projectionStatuses(status.pool, status.log, names),
    report: (parkedEntries) => projectionsReport(status.pool, status.log, names, parkedEntries),
    logEntries: () => log.countEntriesAfter(logStart),
  };
};
