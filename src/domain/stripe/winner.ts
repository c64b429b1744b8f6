import type { Candidate } from './candidates.js';
import { deepEqual } from './canonical.js';

/**
 * How far along its life an object is, by status. Within one second, a later status wins.
 * Statuses at the same rank are alternative endings; the next rules decide between them.
 */
const statusProgress: Record<string, Record<string, number>> = {
  invoice: { draft: 0, open: 1, uncollectible: 2, paid: 3, void: 3 },
  refund: { pending: 0, requires_action: 0, succeeded: 1, failed: 2, canceled: 2 },
  'checkout.session': { open: 0, complete: 1, expired: 1 },
  subscription: {
    incomplete: 0,
    trialing: 1,
    active: 1,
    past_due: 1,
    unpaid: 1,
    paused: 1,
    canceled: 2,
    incomplete_expired: 2,
  },
  payment_intent: {
    requires_payment_method: 0,
    requires_confirmation: 0,
    requires_action: 1,
    processing: 2,
    requires_capture: 3,
    succeeded: 4,
    canceled: 4,
  },
  charge: { pending: 0, succeeded: 1, failed: 1 },
  dispute: {
    warning_needs_response: 0,
    needs_response: 0,
    warning_under_review: 1,
    under_review: 1,
    warning_closed: 2,
    won: 2,
    lost: 2,
  },
  invoice_payment: { open: 0, paid: 1, canceled: 1 },
  setup_intent: {
    requires_payment_method: 0,
    requires_confirmation: 0,
    requires_action: 1,
    processing: 2,
    succeeded: 3,
    canceled: 3,
  },
  // Payfold's own session requests: asked, then refused by Stripe (retryable), then created.
  'payfold.checkout_request': { initialized: 0, failed: 1, created: 2 },
  'payfold.portal_request': { initialized: 0, failed: 1, created: 2 },
};

/** Numbers that only grow over an object's life; a larger one is later. */
const progressFields: Record<string, readonly string[]> = {
  invoice: ['amount_paid', 'attempt_count'],
  charge: ['amount_captured', 'amount_refunded'],
  payment_intent: ['amount_received'],
  invoice_payment: ['amount_paid'],
  'payfold.checkout_request': ['failed_at_ms'],
  'payfold.portal_request': ['failed_at_ms'],
  '*': ['updated'],
};

export type DecidedBy =
  | 'only'
  | 'time'
  | 'created'
  | 'previous_attributes'
  | 'source'
  | 'status'
  | 'progress'
  | 'identical'
  | 'event_id'
  | 'hash';

export interface WinnerChoice {
  winner: Candidate;
  /**
   * The first rule that narrowed the group to one. `identical`: what was left said the same thing
   * (`invoice.paid` and `invoice.payment_succeeded` carry one snapshot). `event_id` and `hash`
   * mean a real tie: different states that nothing orders.
   */
  decidedBy: DecidedBy;
}

type Rule = [DecidedBy, (group: Candidate[]) => Candidate[]];

const keepMax = (group: Candidate[], score: (candidate: Candidate) => number): Candidate[] => {
  const best = Math.max(...group.map(score));
  return group.filter((candidate) => score(candidate) === best);
};

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** B follows A when every value B's `previous_attributes` names is A's value. */
const follows = (b: Candidate, a: Candidate): boolean => {
  const previous = b.previousAttributes;
  if (!previous || Object.keys(previous).length === 0 || a.key === b.key) return false;
  return Object.entries(previous).every(([field, value]) => deepEqual(a.snapshot[field], value));
};

const numberAt = (snapshot: Record<string, unknown>, field: string): number => {
  const value = snapshot[field];
  return typeof value === 'number' ? value : Number.NEGATIVE_INFINITY;
};

/**
 * The rules for one second, applied in this order to the whole group at once. Each keeps the
 * candidates that are latest by its measure; the first one that leaves a single candidate decides.
 * Because every rule looks at the whole group, the result does not depend on the order in which
 * candidates arrived (a pairwise "max" with these rules would).
 */
const sameSecondRules: Rule[] = [
  ['created', (group) => (group.some((c) => !c.isCreated) ? group.filter((c) => !c.isCreated) : group)],
  [
    'previous_attributes',
    (group) => {
      const unfollowed = group.filter((a) => !group.some((b) => follows(b, a)));
      return unfollowed.length > 0 ? unfollowed : group;
    },
  ],
  ['source', (group) => keepMax(group, (c) => (c.source === 'webhook' ? 1 : 0))],
  [
    'status',
    (group) =>
      keepMax(group, (c) => {
        const status = c.snapshot.status;
        return typeof status === 'string' ? (statusProgress[c.objectType]?.[status] ?? -1) : -1;
      }),
  ],
  [
    'progress',
    (group) => {
      const fields = [...(progressFields[group[0]?.objectType ?? ''] ?? []), ...(progressFields['*'] ?? [])];
      return fields.reduce((kept, field) => keepMax(kept, (c) => numberAt(c.snapshot, field)), group);
    },
  ],
  [
    'identical',
    (group) => {
      const [first] = group;
      const same = group.every(
        (c) => c.isDeletion === first?.isDeletion && deepEqual(c.snapshot, first?.snapshot),
      );
      return same ? [maxByEventId(group)] : group;
    },
  ],
  [
    'event_id',
    (group) => {
      const ids = group.map((c) => c.eventId ?? '');
      const best = ids.reduce((max, id) => (compareText(id, max) > 0 ? id : max), '');
      return group.filter((c) => (c.eventId ?? '') === best);
    },
  ],
  [
    'hash',
    (group) => {
      const best = group.reduce((max, c) => (compareText(c.key, max.key) > 0 ? c : max));
      return [best];
    },
  ],
];

/** The candidate with the greatest event id, then the greatest key: one choice for any order. */
const maxByEventId = (group: Candidate[]): Candidate =>
  group.reduce((best, c) => {
    const byEvent = compareText(c.eventId ?? '', best.eventId ?? '');
    return byEvent > 0 || (byEvent === 0 && compareText(c.key, best.key) > 0) ? c : best;
  });

/** The latest second of a set of candidates, and the candidates observed in it. */
export const latestSecond = (candidates: readonly Candidate[]): Candidate[] => {
  const second = Math.max(...candidates.map((candidate) => candidate.observedAt));
  const byKey = new Map<string, Candidate>();
  for (const candidate of candidates)
    if (candidate.observedAt === second) byKey.set(candidate.key, candidate);
  return [...byKey.values()];
};

/**
 * The winning snapshot among candidates of one object: the latest observed second wins outright;
 * within it, the same-second rules decide. A function of the set of candidates, never their order.
 */
export const chooseWinner = (candidates: readonly Candidate[]): WinnerChoice | undefined => {
  if (candidates.length === 0) return undefined;
  let group = latestSecond(candidates);
  const seconds = new Set(candidates.map((candidate) => candidate.observedAt));
  if (group.length === 1)
    return { winner: group[0] as Candidate, decidedBy: seconds.size > 1 ? 'time' : 'only' };
  for (const [name, rule] of sameSecondRules) {
    group = rule(group);
    if (group.length === 1) return { winner: group[0] as Candidate, decidedBy: name };
  }
  return { winner: group[0] as Candidate, decidedBy: 'hash' };
};

export interface WinningSnapshot {
  /** The winning candidate's key: the same key means the same snapshot. */
  key: string;
  observedAt: number;
  deleted: boolean;
  snapshot: Record<string, unknown>;
  decidedBy: DecidedBy;
}

/**
 * One candidate per key, in the order given: the one seen at the latest second, the first of those
 * on a tie. An API read's key is its snapshot's hash, so the same state read again later is the
 * same candidate, now known to hold at the later second; the winner must not stay at the earlier
 * one because the reads came in different batches.
 */
export const distinctCandidates = (candidates: readonly Candidate[]): Candidate[] => {
  const byKey = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const known = byKey.get(candidate.key);
    if (!known || candidate.observedAt > known.observedAt) byKey.set(candidate.key, candidate);
  }
  return [...byKey.values()];
};

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
