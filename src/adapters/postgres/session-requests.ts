import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { NewLogEntry } from '../../domain/event-log.js';
import type { Subject } from '../../domain/subject.js';
import type { EventLog } from '../../ports/event-log.js';
import type { BeginRequest, BeginResult, SessionRequestsStore } from '../../ports/stores.js';

const statements = {
  customerOfSubject: `
    select customer_id from payments.customer_mappings
    where environment = $1 and subject_type = $2 and subject_id = $3`,
  /** See migration 0016: the row as the caller, then the entry as Payfold, in one statement. */
  begin: `
    select status, request_id, request_fingerprint
    from payfold.begin_session_request($1, $2, $3::regclass, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12::json, $13, $14::uuid)`,
} as const;

/**
 * The caller's policies refused the row. Other refusals (a revoked grant, a trigger of the app
 * that is not `security definer` writing elsewhere) are faults of the set-up, not of the caller.
 */
const isDenied = (error: unknown): boolean =>
  (error as { code?: string }).code === '42501' && /row-level security/.test((error as Error).message);

type BeginRow = { status: string; request_id: string | null; request_fingerprint: string | null };

/**
 * Named statements of the session API, each run as Payfold or, where it says so, as the caller.
 * `logElsewhere` is the log when it is not Postgres's (EventStoreDB).
 */
export const sessionRequestsStore = (pool: pg.Pool, logElsewhere?: EventLog): SessionRequestsStore => ({
  async customerOfSubject(environment: Environment, subject: Subject): Promise<string | null> {
    const { rows } = await pool.query<{ customer_id: string }>(statements.customerOfSubject, [
      environment,
      subject.type,
      subject.id,
    ]);
    return rows[0]?.customer_id ?? null;
  },

  /**
   * A request's first write, in one transaction: its row inserted as the caller (so the app's RLS
   * policies decide), then its log entry appended as Payfold. Both commit, or neither.
   */
  async begin({
    caller,
    table,
    row,
    entry,
    idempotencyKey,
    supersedes,
    checkOnly,
  }: BeginRequest): Promise<BeginResult> {
    const query = {
      name: 'payfold_begin_session_request',
      text: statements.begin,
      values: [
        caller.role,
        JSON.stringify(caller.claims),
        table,
        JSON.stringify(row),
        idempotencyKey ?? null,
        checkOnly === true,
        entry.environment,
        entry.type,
        entry.version,
        entry.dedupeKey,
        entry.stream,
        entry.data,
        logElsewhere === undefined,
        supersedes ?? null,
      ],
    };
    try {
      const answer = logElsewhere
        ? await beginThenAppend(pool, query, logElsewhere, entry, checkOnly === true)
        : (await pool.query<BeginRow>(query)).rows[0];
      if (answer?.status === 'existing') {
        return {
          status: 'existing',
          requestId: answer.request_id as string,
          fingerprint: answer.request_fingerprint,
        };
      }
      return { status: 'begun' };
    } catch (error) {
      if (isDenied(error)) return { status: 'denied' };
      throw error;
    }
  },
});

/**
 * With the log in another store: the row as the caller, then the entry appended there, then the
 * row's commit. An append that fails rolls the row back; a commit that fails after the append
 * leaves the entry, from which the projection writes the same row.
 */
const beginThenAppend = async (
  pool: pg.Pool,
  query: pg.QueryConfig,
  log: EventLog,
  entry: NewLogEntry,
  checkOnly: boolean,
): Promise<BeginRow | undefined> => {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const [answer] = (await client.query<BeginRow>(query)).rows;
    if (answer?.status === 'begun' && !checkOnly) await log.append(entry);
    await client.query('commit');
    return answer;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};
