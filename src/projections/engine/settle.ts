import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventLog } from '../../ports/event-log.js';
import { checkpointOfRow, checkpointStatements } from './checkpoints.js';
import { Leadership } from './leadership.js';
import type { Projector } from './projector.js';
import { ProjectionRunner } from './runner.js';

/** Where each projection stood when a command was done with the log. */
export interface SettleSummary {
  /** Brought to the log's head by the command itself: no process led them. */
  applied: string[];
  /** Brought there by the process that leads them, which the command waited for. */
  waitedFor: string[];
  /** Still behind when the wait was over: the process that leads them will get there. */
  behind: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The tables as of the log's head now, for a command that appended to the log (a sync, a catalog
 * change) and must leave the tables holding what it appended before it exits. The projections no
 * process leads are applied here, led for that time; those another process leads (a running
 * `payfold serve`) are waited for, up to `timeoutMs`.
 */
export const settleProjections = async (
  options: { pool: pg.Pool; log: EventLog; logger: Logger; projectors: readonly Projector[] },
  timeoutMs: number,
): Promise<SettleSummary> => {
  const { pool, log, logger, projectors } = options;
  const head = await log.headPosition();
  const leadership = new Leadership(
    'projection',
    projectors.map((projector) => projector.name),
    { pool, logger },
  );
  await leadership.tryOnce();
  try {
    const mine = projectors.filter((projector) => leadership.leads(projector.name));
    if (mine.length > 0) await new ProjectionRunner({ pool, log, logger, projectors: mine }).catchUp();
    const summary: SettleSummary = {
      applied: mine.map((projector) => projector.name),
      waitedFor: [],
      behind: [],
    };
    const deadline = Date.now() + timeoutMs;
    for (const projector of projectors.filter((candidate) => !leadership.leads(candidate.name))) {
      for (;;) {
        const { rows } = await pool.query<{ transaction_id: string; position: string }>(
          checkpointStatements.read,
          [projector.name],
        );
        const at = rows[0] && checkpointOfRow(rows[0]);
        if (at && !(await log.hasEntriesAfter(at, head))) {
          summary.waitedFor.push(projector.name);
          break;
        }
        if (Date.now() > deadline) {
          summary.behind.push(projector.name);
          break;
        }
        await sleep(100);
      }
    }
    return summary;
  } finally {
    await leadership.stop();
  }
};
