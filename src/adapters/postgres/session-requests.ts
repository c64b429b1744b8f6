import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { NewLogEntry } from '../../domain/event-log.js';
import type { Caller } from '../../domain/session-requests.js';
import type { Subject } from '../../domain/subject.js';
import { appendInTransaction } from './event-log.js';

/** The session tables whose first row a request writes as its caller. */
export type SessionTable = 'payments.checkout_sessions' | 'payments.customer_portal_sessions';

const statements = {
  customerOfSubject: `
    select customer_id from payments.customer_mappings
    where environment = $1 and subject_type = $2 and subject_id = $3`,
  actAsCaller: `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`,
  actAsPayfold: 'reset role',
  /**
   * The row the request alone projects to, as the projection will write it: `created_at` is the
   * transaction's time, also the recorded time of the entry appended with it, to the millisecond
   * (as the projection reads it back), so that the projection then finds nothing to change.
   */
  insertRow: (table: SessionTable) => `
    insert into ${table}
    select * from jsonb_populate_record(null::${table}, $1::jsonb || jsonb_build_object(
      'created_at', date_trunc('milliseconds', now()), 'updated_at', now()))
    on conflict do nothing`,
  /** Under the caller's policies: a row they cannot see is not found. */
  checkoutByIdempotencyKey: `
    select id::text, request_fingerprint from payments.checkout_sessions
    where environment = $1 and idempotency_key = $2`,
} as const;

/**
 * The caller's policies refused the row. Other refusals (a revoked grant, a trigger of the app
 * that is not `security definer` writing elsewhere) are faults of the set-up, not of the caller.
 */
const isDenied = (error: unknown): boolean =>
  (error as { code?: string }).code === '42501' && /row-level security/.test((error as Error).message);

export type BeginResult =
  | { status: 'begun' }
  | { status: 'denied' }
  /** The idempotency key is taken by a request the caller can see. */
  | { status: 'existing'; requestId: string; fingerprint: string | null }
  /** The idempotency key is taken by a request the caller cannot see. */
  | { status: 'hidden' };

export interface BeginRequest {
  caller: Caller;
  table: SessionTable;
  row: Record<string, unknown>;
  entry: NewLogEntry;
  /** For a checkout request with an idempotency key: where to look when the key is taken. */
  idempotencyKey?: { environment: Environment; key: string };
  /** Only check that the caller may make the request, then leave nothing behind. */
  checkOnly?: boolean;
}

/** Named statements of the session API, each run as Payfold or, where it says so, as the caller. */
export const sessionRequestsStore = (pool: pg.Pool) => ({
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
  async begin({ caller, table, row, entry, idempotencyKey, checkOnly }: BeginRequest): Promise<BeginResult> {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(statements.actAsCaller, [caller.role, JSON.stringify(caller.claims)]);
      const inserted = await client.query(statements.insertRow(table), [JSON.stringify(row)]);
      if (inserted.rowCount === 0 && idempotencyKey) {
        const { rows } = await client.query<{ id: string; request_fingerprint: string | null }>(
          statements.checkoutByIdempotencyKey,
          [idempotencyKey.environment, idempotencyKey.key],
        );
        await client.query('rollback');
        const [found] = rows;
        return found
          ? { status: 'existing', requestId: found.id, fingerprint: found.request_fingerprint }
          : { status: 'hidden' };
      }
      if (checkOnly) {
        await client.query('rollback');
        return { status: 'begun' };
      }
      await client.query(statements.actAsPayfold);
      await appendInTransaction(client, entry);
      await client.query('commit');
      return { status: 'begun' };
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      if (isDenied(error)) return { status: 'denied' };
      throw error;
    } finally {
      client.release();
    }
  },
});

export type SessionRequestsStore = ReturnType<typeof sessionRequestsStore>;
