import { type Subject, subjectOfMetadata } from '../subject.js';
import type { Candidate } from './candidates.js';
import { customerReferenceSchema, metadataSchema } from './objects.js';

export interface Pairing {
  subject: Subject;
  customerId: string;
  observedAt: number;
}

/** Objects whose metadata can pair a subject with their customer. */
const pairingTypes = new Set(['checkout.session', 'subscription', 'payment_intent']);

const customerOf = (objectType: string, snapshot: Record<string, unknown>): string | null => {
  if (objectType === 'customer') return typeof snapshot.id === 'string' ? snapshot.id : null;
  return pairingTypes.has(objectType) ? customerReferenceSchema.parse(snapshot) : null;
};

/** A subject named in an object's metadata, paired with the object's customer. */
export const pairingOf = (candidate: Candidate): Pairing | undefined => {
  if (candidate.isDeletion) return undefined;
  const customerId = customerOf(candidate.objectType, candidate.snapshot);
  if (!customerId) return undefined;
  const subject = subjectOfMetadata(metadataSchema.parse(candidate.snapshot.metadata));
  return subject ? { subject, customerId, observedAt: candidate.observedAt } : undefined;
};

export interface Mapping {
  subject: Subject;
  customerId: string;
}

const pairingOrder = (a: Pairing, b: Pairing): number =>
  a.observedAt - b.observedAt ||
  (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0) ||
  (a.subject.type < b.subject.type ? -1 : a.subject.type > b.subject.type ? 1 : 0) ||
  (a.subject.id < b.subject.id ? -1 : a.subject.id > b.subject.id ? 1 : 0);

/**
 * Customer mappings from pairings: each subject keeps its earliest pairing, and each customer
 * belongs to one subject. Taking pairings earliest first, a pairing becomes a mapping unless its
 * subject or its customer is already mapped. A function of the set of pairings.
 */
export const customerMappings = (pairings: readonly Pairing[]): Mapping[] => {
  const subjects = new Set<string>();
  const customers = new Set<string>();
  const mappings: Mapping[] = [];
  for (const pairing of [...pairings].sort(pairingOrder)) {
    const subjectKey = `${pairing.subject.type}\u0000${pairing.subject.id}`;
    if (subjects.has(subjectKey) || customers.has(pairing.customerId)) continue;
    subjects.add(subjectKey);
    customers.add(pairing.customerId);
    mappings.push({ subject: pairing.subject, customerId: pairing.customerId });
  }
  return mappings;
};
