import type { Environment } from '../../../domain/environment.js';
import { customerMappings } from '../../../domain/stripe/pairings.js';
import type { PaymentsStore, StoredMapping, StoredPairing } from '../store.js';
import { keyOf, type TableShape } from './table.js';

/**
 * `payments.customer_mappings`: each subject's earliest pairing with a customer (and a customer
 * belongs to one subject), so a mapping never moves once made. Built from every pairing ever
 * observed (`payfold.subject_pairings`), not from winners. The row's `created_at` is the earliest
 * recorded time of its pairing.
 */
export const customerMappingsTable: TableShape<{
  environment: 'text not null';
  subject_type: 'text not null';
  subject_id: 'text not null';
  customer_id: 'text not null';
}> = {
  name: 'payments.customer_mappings',
  key: ['environment', 'subject_type', 'subject_id'],
  columns: {
    environment: 'text not null',
    subject_type: 'text not null',
    subject_id: 'text not null',
    customer_id: 'text not null',
  },
};

const subjectKey = (type: string, id: string) => keyOf(type, id);
const mappingKey = (mapping: StoredMapping) =>
  keyOf(mapping.subject.type, mapping.subject.id, mapping.customerId, mapping.createdAt.toISOString());

const pairingKey = (subject: { type: string; id: string }, customerId: string) =>
  keyOf(subject.type, subject.id, customerId);

/** The mappings of a set of stored pairings, each dated by the earliest recorded time of its pairing. */
export const storedMappings = (pairings: readonly StoredPairing[]): StoredMapping[] => {
  const recordedAt = new Map(
    pairings.map((pairing) => [pairingKey(pairing.subject, pairing.customerId), pairing.recordedAt]),
  );
  return customerMappings(pairings).map((mapping) => ({
    ...mapping,
    createdAt: recordedAt.get(pairingKey(mapping.subject, mapping.customerId)) as Date,
  }));
};

/**
 * Records new subject–customer pairings and recomputes the mappings of every subject and customer
 * they connect to (a pairing can displace a later one). Returns the customers whose mapped subject
 * changed, so that rows falling back to the mapping are rebuilt.
 */
export const foldCustomerMappings = async (
  store: PaymentsStore,
  pairings: ReadonlyArray<StoredPairing & { environment: Environment }>,
): Promise<Array<{ environment: Environment; customerId: string }>> => {
  if (!(await store.savePairings(pairings))) return [];
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
      component = await store.pairingsTouching(environment, subjects, customers);
      const before = subjects.size + customers.size;
      for (const pairing of component) {
        subjects.add(subjectKey(pairing.subject.type, pairing.subject.id));
        customers.add(pairing.customerId);
      }
      if (subjects.size + customers.size === before) break;
    }
    const wanted = storedMappings(component);
    const current = await store.mappingsTouching(environment, subjects, customers);
    const wantedKeys = new Set(wanted.map(mappingKey));
    const currentKeys = new Set(current.map(mappingKey));
    for (const mapping of current) {
      if (wantedKeys.has(mappingKey(mapping))) continue;
      await store.deleteMapping(environment, mapping);
      changed.push({ environment, customerId: mapping.customerId });
    }
    const added = wanted.filter((mapping) => !currentKeys.has(mappingKey(mapping)));
    await store.insertMappings(environment, added);
    for (const mapping of added) changed.push({ environment, customerId: mapping.customerId });
  }
  return changed;
};
