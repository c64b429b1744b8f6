import type { LogCheckpoint, LogEntry, NewLogEntry } from '../domain/event-log.js';

/**
 * The log could not take an append in time: too many are waiting, or the commit did not come
 * within the deadline (it may still commit; a redelivery then finds it a duplicate). The caller
 * answers so that the sender retries: for a webhook, 503.
 */
export class LogBusyError extends Error {}

/**
 * The log's store cannot be reached (down, restarting, refusing connections): nothing was written.
 * The caller answers so that the sender retries: for a webhook, 503.
 */
export class LogUnavailableError extends Error {}

export type AppendResult = { status: 'appended'; position: bigint } | { status: 'duplicate' };

/** The port every event store adapter implements (Postgres by default, EventStoreDB optionally). */
export interface EventLog {
  /** Appends durably; resolves only after the entry is committed (or found to be a duplicate). */
  append(entry: NewLogEntry): Promise<AppendResult>;
  /** The committed entry stored under a dedupe key, if any (a session request read back, say). */
  entryByDedupeKey(dedupeKey: string): Promise<LogEntry | undefined>;
  /** Which of these dedupe keys the log holds (reconcile's missed events). */
  loggedDedupeKeys(dedupeKeys: readonly string[]): Promise<Set<string>>;
  /** Every committed entry of one stream, in the order they were appended (a sync's pages, say). */
  readStream(stream: string): Promise<LogEntry[]>;
  /** The committed entries at these places in the log (parked entries read back for a retry), in log order. */
  entriesAt(checkpoints: readonly LogCheckpoint[]): Promise<LogEntry[]>;
  /**
   * Committed entries after `from`, in the global order, never skipping one committed later: at
   * most `limit` of them and about `maxBytes` (16 MiB unless given; always at least one entry).
   */
  readAll(from: LogCheckpoint, limit: number, maxBytes?: number): Promise<LogEntry[]>;
  /** Calls `onAppended` soon after new entries may be readable. Returns an unsubscribe function. */
  subscribe(onAppended: () => void): () => Promise<void>;
  /** The newest position in the log, for metrics and lag. */
  headPosition(): Promise<bigint>;
  /**
   * About how many entries lie after `from`: how far a reader is behind, for metrics and status.
   * An estimate, cheap whatever the size of the log; `hasEntriesAfter` is the exact question.
   */
  countEntriesAfter(from: LogCheckpoint): Promise<number>;
  /**
   * Whether a committed entry at or below `upTo` lies after `from` in the global order: true while
   * a reader at `from` still has to read it (even if it is not readable yet).
   */
  hasEntriesAfter(from: LogCheckpoint, upTo: bigint): Promise<boolean>;
  close(): Promise<void>;
}
