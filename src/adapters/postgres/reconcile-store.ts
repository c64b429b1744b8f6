import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { ReconcileStore } from '../../ports/stores.js';

const statements = {
  winners: `
    select object_id, snapshot from payments.stripe_objects
    where environment = $1 and object_type = $2 and object_id = any($3::text[]) and not deleted`,
  winnersNotListed: `
    select object_id from payments.stripe_objects
    where environment = $1 and object_type = $2 and not deleted and not (object_id = any($3::text[]))
      -- Stripe lists payment methods per customer: a detached one is in no list, and not extra.
      and not (object_type = 'payment_method' and snapshot->'customer' = 'null'::jsonb)
    order by object_id`,
  // A tie still matters while the object's winner comes from the tied second; a later snapshot
  // (a re-fetch, a new event) has settled it.
  ties: `
    select distinct t.object_type, t.object_id from payfold.ambiguous_ties t
    join payments.stripe_objects o
      on o.environment = t.environment and o.object_type = t.object_type and o.object_id = t.object_id
    where t.environment = $1 and extract(epoch from o.observed_at)::bigint <= t.observed_at
    order by t.object_type, t.object_id`,
  settleTie:
    'delete from payfold.ambiguous_ties where environment = $1 and object_type = $2 and object_id = $3',
} as const;

/** What reconcile reads of the log and the tables, by named statement. */
export const reconcileStore = (pool: pg.Pool): ReconcileStore => ({
  /** The winning snapshots of these objects, by id (deleted ones left out). */
  async winners(environment: Environment, objectType: string, ids: readonly string[]) {
    const { rows } = await pool.query<{ object_id: string; snapshot: Record<string, unknown> }>(
      statements.winners,
      [environment, objectType, ids],
    );
    return new Map(rows.map((row) => [row.object_id, row.snapshot]));
  },
  /** Objects of a type the tables hold as live that are not among these. */
  async winnersNotListed(environment: Environment, objectType: string, listed: readonly string[]) {
    const { rows } = await pool.query<{ object_id: string }>(statements.winnersNotListed, [
      environment,
      objectType,
      listed,
    ]);
    return rows.map((row) => row.object_id);
  },
  async ties(environment: Environment) {
    const { rows } = await pool.query<{ object_type: string; object_id: string }>(statements.ties, [
      environment,
    ]);
    return rows.map((row) => ({ objectType: row.object_type, objectId: row.object_id }));
  },
  async settleTie(environment: Environment, objectType: string, objectId: string) {
    await pool.query(statements.settleTie, [environment, objectType, objectId]);
  },
});
