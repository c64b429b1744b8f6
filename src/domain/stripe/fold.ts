import type { Subject } from '../subject.js';
import { subjectOfMetadata } from '../subject.js';
import type { Candidate } from './candidates.js';
import {
  chargeSchema,
  checkoutSessionSchema,
  invoicePaymentSchema,
  invoiceSchema,
  metadataSchema,
  paymentIntentSchema,
  subscriptionSchema,
} from './objects.js';
import { chooseWinner, type DecidedBy, latestSecond } from './winner.js';

export interface WinningSnapshot {
  /** The winning candidate's key: the same key means the same snapshot. */
  key: string;
  observedAt: number;
  deleted: boolean;
  snapshot: Record<string, unknown>;
  decidedBy: DecidedBy;
}

/**
 * The candidates that can still matter: those of the latest second, kept apart for deletions and
 * for other snapshots. An older candidate can never win again, so dropping it changes no result.
 */
export const pruneCandidates = (candidates: readonly Candidate[]): Candidate[] => {
  const deletions = candidates.filter((candidate) => candidate.isDeletion);
  const snapshots = candidates.filter((candidate) => !candidate.isDeletion);
  return [
    ...(snapshots.length > 0 ? latestSecond(snapshots) : []),
    ...(deletions.length > 0 ? latestSecond(deletions) : []),
  ];
};

/**
 * An object's winning snapshot: the best snapshot that is not a deletion (or, with nothing else
 * known, the best deletion), flagged deleted once any deletion is seen. Deletion is final.
 */
export const winningSnapshot = (candidates: readonly Candidate[]): WinningSnapshot | undefined => {
  const deletions = candidates.filter((candidate) => candidate.isDeletion);
  const choice =
    chooseWinner(candidates.filter((candidate) => !candidate.isDeletion)) ?? chooseWinner(deletions);
  if (!choice) return undefined;
  return {
    key: choice.winner.key,
    observedAt: choice.winner.observedAt,
    deleted: deletions.length > 0,
    snapshot: choice.winner.snapshot,
    decidedBy: choice.decidedBy,
  };
};

export interface Link {
  link: string;
  targetId: string;
}

const links = (pairs: Array<[string, string | null]>): Link[] =>
  pairs.flatMap(([link, targetId]) => (targetId ? [{ link, targetId }] : []));

/** What a snapshot points at, for finding the rows built from several objects. */
export const linksOf = (objectType: string, snapshot: Record<string, unknown>): Link[] => {
  switch (objectType) {
    case 'charge': {
      const charge = chargeSchema.parse(snapshot);
      return links([
        ['payment_intent', charge.payment_intent],
        ['invoice', charge.invoice],
      ]);
    }
    case 'invoice': {
      const invoice = invoiceSchema.parse(snapshot);
      return links([
        ['subscription', invoice.subscription ?? invoice.parent],
        ['payment_intent', invoice.payment_intent],
        ['charge', invoice.charge],
      ]);
    }
    case 'invoice_payment': {
      const payment = invoicePaymentSchema.parse(snapshot);
      return links([
        ['invoice', payment.invoice],
        ['payment_intent', payment.payment.paymentIntent],
        ['charge', payment.payment.charge],
      ]);
    }
    case 'payment_intent':
      return links([['invoice', paymentIntentSchema.parse(snapshot).invoice]]);
    default:
      return [];
  }
};

export interface Pairing {
  subject: Subject;
  customerId: string;
  observedAt: number;
}

const customerOf = (objectType: string, snapshot: Record<string, unknown>): string | null => {
  switch (objectType) {
    case 'customer':
      return typeof snapshot.id === 'string' ? snapshot.id : null;
    case 'checkout.session':
      return checkoutSessionSchema.parse(snapshot).customer;
    case 'subscription':
      return subscriptionSchema.parse(snapshot).customer;
    case 'payment_intent':
      return paymentIntentSchema.parse(snapshot).customer;
    default:
      return null;
  }
};

/** A subject named in an object's metadata, paired with the object's customer. */
export const pairingOf = (candidate: Candidate): Pairing | undefined => {
  if (candidate.isDeletion) return undefined;
  const customerId = customerOf(candidate.objectType, candidate.snapshot);
  const subject = subjectOfMetadata(metadataSchema.parse(candidate.snapshot.metadata));
  return customerId && subject ? { subject, customerId, observedAt: candidate.observedAt } : undefined;
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
