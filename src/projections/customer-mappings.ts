import type { PoolClient } from 'pg';
import type { Environment } from '../domain/environment.js';
import { customerMappings, type Pairing } from '../domain/stripe/fold.js';

const upsertPairingsSql = `
  insert into payfold.subject_pairings as p (environment, subject_type, subject_id, customer_id, observed_at, recorded_at)
  select environment, subject_type, subject_id, customer_id, min(observed_at), min(recorded_at)
  from jsonb_to_recordset($1::jsonb) as r(environment text, subject_type text, subject_id text, customer_id text,
    observed_at bigint, recorded_at timestamptz)
  group by environment, subject_type, subject_id, customer_id
  on conflict (environment, subject_type, subject_id, customer_id) do update set
    observed_at = least(p.observed_at, excluded.observed_at),
    recorded_at = least(p.recorded_at, excluded.recorded_at)
  where (p.observed_at, p.recorded_at) is distinct from
    (least(p.observed_at, excluded.observed_at), least(p.recorded_at, excluded.recorded_at))
  returning environment`;
const pairingsTouchingSql = `
  select subject_type, subject_id, customer_id, observed_at, recorded_at from payfold.subject_pairings
  where environment = $1 and (subject_type || chr(0) || subject_id = any($2::text[]) or customer_id = any($3::text[]))`;
const mappingsTouchingSql = `
  select subject_type, subject_id, customer_id from payments.customer_mappings
  where environment = $1 and (subject_type || chr(0) || subject_id = any($2::text[]) or customer_id = any($3::text[]))`;
const deleteMappingSql = `
  delete from payments.customer_mappings where environment = $1 and subject_type = $2 and subject_id = $3`;
const insertMappingSql = `
  insert into payments.customer_mappings (environment, subject_type, subject_id, customer_id, created_at, updated_at)
  values ($1, $2, $3, $4, $5, now())`;

type StoredPairing = Pairing & { recordedAt: Date };
const subjectKey = (type: string, id: string) => `${type}\u0000${id}`;

/**
 * Records new subject–customer pairings and recomputes the mappings of every subject and customer
 * they connect to (a pairing can displace a later one). Returns the customers whose mapped subject
 * changed, so that rows falling back to the mapping are recomputed.
 */
export const updateCustomerMappings = async (
  client: PoolClient,
  pairings: ReadonlyArray<Pairing & { environment: Environment; recordedAt: Date }>,
): Promise<Array<{ environment: Environment; customerId: string }>> => {
  if (pairings.length === 0) return [];
  const rows = pairings.map((pairing) => ({
    environment: pairing.environment,
    subject_type: pairing.subject.type,
    subject_id: pairing.subject.id,
    customer_id: pairing.customerId,
    observed_at: pairing.observedAt,
    recorded_at: pairing.recordedAt,
  }));
  const { rowCount } = await client.query(upsertPairingsSql, [JSON.stringify(rows)]);
  if (!rowCount) return [];

  const changed: Array<{ environment: Environment; customerId: string }> = [];
  for (const environment of new Set(pairings.map((pairing) => pairing.environment))) {
    const subjects = new Set<string>();
    const customers = new Set<string>();
    for (const pairing of pairings.filter((p) => p.environment === environment)) {
      subjects.add(subjectKey(pairing.subject.type, pairing.subject.id));
      customers.add(pairing.customerId);
    }
    // The connected pairings: grow the sets until no pairing reaches further.
    let component: StoredPairing[] = [];
    for (;;) {
      const { rows: found } = await client.query(pairingsTouchingSql, [
        environment,
        [...subjects],
        [...customers],
      ]);
      component = found.map((row) => ({
        subject: { type: row.subject_type, id: row.subject_id },
        customerId: row.customer_id,
        observedAt: Number(row.observed_at),
        recordedAt: row.recorded_at,
      }));
      const before = subjects.size + customers.size;
      for (const pairing of component) {
        subjects.add(subjectKey(pairing.subject.type, pairing.subject.id));
        customers.add(pairing.customerId);
      }
      if (subjects.size + customers.size === before) break;
    }
    const wanted = customerMappings(component);
    const { rows: current } = await client.query(mappingsTouchingSql, [
      environment,
      [...subjects],
      [...customers],
    ]);
    const wantedKeys = new Set(
      wanted.map((m) => `${subjectKey(m.subject.type, m.subject.id)}\u0000${m.customerId}`),
    );
    const currentKeys = new Set(
      current.map((m) => `${subjectKey(m.subject_type, m.subject_id)}\u0000${m.customer_id}`),
    );
    for (const mapping of current) {
      if (
        wantedKeys.has(`${subjectKey(mapping.subject_type, mapping.subject_id)}\u0000${mapping.customer_id}`)
      )
        continue;
      await client.query(deleteMappingSql, [environment, mapping.subject_type, mapping.subject_id]);
      changed.push({ environment, customerId: mapping.customer_id });
    }
    for (const mapping of wanted) {
      if (
        currentKeys.has(`${subjectKey(mapping.subject.type, mapping.subject.id)}\u0000${mapping.customerId}`)
      )
        continue;
      const pairing = component.find(
        (p) =>
          p.customerId === mapping.customerId &&
          subjectKey(p.subject.type, p.subject.id) === subjectKey(mapping.subject.type, mapping.subject.id),
      );
      await client.query(insertMappingSql, [
        environment,
        mapping.subject.type,
        mapping.subject.id,
        mapping.customerId,
        pairing?.recordedAt,
      ]);
      changed.push({ environment, customerId: mapping.customerId });
    }
  }
  return changed;
};
