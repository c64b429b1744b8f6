import {
  checkpointOf,
  isAtOrBefore,
  type LogCheckpoint,
  type LogEntry,
  logStart,
} from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import type { Rescan } from './projector.js';

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
