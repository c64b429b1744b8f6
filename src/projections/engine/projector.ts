import type { PoolClient } from 'pg';
import type { LogEntry } from '../../domain/event-log.js';

/** Reads the entries a rebuild has already seen once more, in the same order and chunks. */
export type Rescan = (visit: (entries: readonly LogEntry[]) => Promise<void>) => Promise<void>;

/**
 * What a build path does with an entry it cannot read: `park` records it as the batches would and
 * returns, when reading it again would fail the same way; any other error it throws back.
 */
export type ParkEntry = (entry: LogEntry, error: unknown) => Promise<void>;

/**
 * A projection built from nothing in one pass over the log, inside one transaction: the runner
 * hands it every entry of its types once, in log order and in large chunks, then calls `finish`.
 */
export interface ProjectionRebuild {
  add(entries: readonly LogEntry[]): Promise<void>;
  finish(rescan: Rescan): Promise<void>;
}

/**
 * A projector folds log entries into tables. `apply` runs inside the runner's transaction, which
 * also moves the projector's checkpoint, so an entry is applied exactly once or not at all.
 * It must be idempotent and write nothing when nothing changes.
 */
export interface Projector {
  name: string;
  /**
   * The version of the code that builds its tables. Raise it when a change would build other rows
   * from the same log: the next start rebuilds the tables (see `rebuild.ts`).
   */
  version: number;
  /** Every table it writes (`payments.*` and its own state in `payfold.*`): what a rebuild builds anew. */
  tables: readonly string[];
  /** Entry types it reads; other entries only move its checkpoint. */
  entryTypes: readonly string[];
  apply(client: PoolClient, entries: readonly LogEntry[]): Promise<void>;
  /**
   * A faster way to the tables `apply` would build, for a projection whose checkpoint is at the
   * start of the log and whose tables are empty (a first start, a rebuild). Without it, the runner
   * feeds `apply` the same large chunks.
   */
  rebuild?(client: PoolClient, park: ParkEntry): ProjectionRebuild;
}

/** What the runner reports (Prometheus, in `payfold serve`). */
export interface ProjectionMetrics {
  /** A batch committed: how many log entries it consumed, how long it took, where it left the checkpoint. */
  batchApplied(projection: string, entries: number, seconds: number, position: bigint): void;
  entryParked(projection: string): void;
  /** A batch rolled back by an error that parks nothing (a deadlock, a timeout, a trigger): it is tried again. */
  batchFailed(projection: string): void;
}
