import type { PoolClient } from 'pg';
import type { LogEntry } from '../domain/event-log.js';

/**
 * A projector folds log entries into tables. `apply` runs inside the runner's transaction, which
 * also moves the projector's checkpoint, so an entry is applied exactly once or not at all.
 * It must be idempotent and write nothing when nothing changes.
 */
export interface Projector {
  name: string;
  /** Entry types it reads; other entries only move its checkpoint. */
  entryTypes: readonly string[];
  apply(client: PoolClient, entries: readonly LogEntry[]): Promise<void>;
}
