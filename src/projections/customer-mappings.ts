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
  where environment = $1
    and ((subject_type, subject_id) in (select * from unnest($2::text[], $3::text[])) or customer_id = any($4::text[]))`;
const mappingsTouchingSql = `
  select subject_type, subject_id, customer_id, created_at from payments.customer_mappings
  where environment = $1
    and ((subject_type, subject_id) in (select * from unnest($2::text[], $3::text[])) or customer_id = any($4::text[]))`;
const deleteMappingSql = `
  delete from payments.customer_mappings where environment = $1 and subject_type = $2 and subject_id = $3`;
const insertMappingSql = `
  insert into payments.customer_mappings (environment, subject_type, subject_id, customer_id, created_at, updated_at)
  values ($1, $2, $3, $4, $5, now())`;

type StoredPairing = Pairing & { recordedAt: Date };
const subjectKey = (type: string, id: string) => `${type}\u0000${id}`;
const subjectParams = (subjects: Set<string>) => {
  const pairs = [...subjects].map((key) => key.split('\u0000'));
  return [pairs.map(([type]) => type), pairs.map(([, id]) => id)];
};

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
        ...subjectParams(subjects),
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
    // A mapping row is its subject, its customer and the earliest recorded time of its pairing.
    const wanted = customerMappings(component).map((mapping) => {
      const pairing = component.find(
        (p) =>
          p.customerId === mapping.customerId &&
          p.subject.type === mapping.subject.type &&
          p.subject.id === mapping.subject.id,
      ) as StoredPairing;
      return { ...mapping, createdAt: pairing.recordedAt };
    });
    const { rows: current } = await client.query(mappingsTouchingSql, [
      environment,
      ...subjectParams(subjects),
      [...customers],
    ]);
    const rowKey = (type: string, id: string, customerId: string, createdAt: Date) =>
      `${subjectKey(type, id)}\u0000${customerId}\u0000${createdAt.toISOString()}`;
    const wantedKeys = new Set(
      wanted.map((m) => rowKey(m.subject.type, m.subject.id, m.customerId, m.createdAt)),
    );
    const currentKeys = new Set(
      current.map((m) => rowKey(m.subject_type, m.subject_id, m.customer_id, m.created_at)),
    );
    for (const mapping of current) {
      if (
        wantedKeys.has(
          rowKey(mapping.subject_type, mapping.subject_id, mapping.customer_id, mapping.created_at),
        )
      ) {
        continue;
      }
      await client.query(deleteMappingSql, [environment, mapping.subject_type, mapping.subject_id]);
      changed.push({ environment, customerId: mapping.customer_id });
    }
    for (const mapping of wanted) {
      if (
        currentKeys.has(
          rowKey(mapping.subject.type, mapping.subject.id, mapping.customerId, mapping.createdAt),
        )
      ) {
        continue;
      }
      await client.query(insertMappingSql, [
        environment,
        mapping.subject.type,
        mapping.subject.id,
        mapping.customerId,
        mapping.createdAt,
      ]);
      changed.push({ environment, customerId: mapping.customerId });
    }
  }
  return changed;
};
