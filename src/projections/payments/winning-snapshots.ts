import type { Candidate } from '../../domain/stripe/candidates.js';
import { linksOf } from '../../domain/stripe/links.js';
import {
  distinctCandidates,
  pruneCandidates,
  type WinningSnapshot,
  winningSnapshot,
} from '../../domain/stripe/winner.js';
import { earliest } from '../../domain/time.js';
import type { PaymentsStore } from './store.js';
import { addTo, objectKey, type Winner } from './tables/table.js';

/** What the stored candidates of an object must say: which candidates, seen at which second. */
const signatureOf = (candidates: readonly Candidate[]) =>
  candidates
    .map((candidate) => `${candidate.key}@${candidate.observedAt}`)
    .sort()
    .join();

/** An object's winner row from the choice among its candidates. */
export const winnerOf = (ref: Candidate, choice: WinningSnapshot, createdAt: Date): Winner => ({
  environment: ref.environment,
  objectType: ref.objectType,
  objectId: ref.objectId,
  observedAt: choice.observedAt,
  deleted: choice.deleted,
  snapshot: choice.snapshot,
  createdAt,
});

/** A choice no rule could make: different states that nothing orders (`payfold.ambiguous_ties`). */
export const isTie = (choice: WinningSnapshot): boolean =>
  choice.decidedBy === 'event_id' || choice.decidedBy === 'hash';

/**
 * Folds new candidates into each object's winning snapshot (`payments.stripe_objects`): the
 * stored candidates of the object's latest second and the new ones are judged together, as one
 * set, by the winner rule. Returns the winners that changed.
 */
export const foldWinningSnapshots = async (
  store: PaymentsStore,
  arrived: readonly Candidate[],
): Promise<Winner[]> => {
  const incoming = new Map<string, Candidate[]>();
  for (const candidate of arrived) addTo(incoming, objectKey(candidate), candidate);
  if (incoming.size === 0) return [];
  const stored = await store.loadCandidates([...incoming.values()].map((group) => group[0] as Candidate));

  // Objects with candidates stored, and with a winner stored: only theirs have rows to replace.
  const withStoredCandidates: Candidate[] = [];
  const kept: Array<{ candidate: Candidate; winnerKey: string }> = [];
  const changed: Winner[] = [];
  const withStoredWinner = new Set<string>();
  const ties: Winner[] = [];
  for (const [key, group] of incoming) {
    const before = stored.candidates.get(key) ?? [];
    const candidates = pruneCandidates(distinctCandidates([...before, ...group]));
    const choice = winningSnapshot(candidates);
    if (!choice) continue;
    const ref = group[0] as Candidate;
    const previous = stored.winners.get(key);
    if (signatureOf(candidates) !== signatureOf(before) || previous?.winnerKey !== choice.key) {
      if (before.length > 0) withStoredCandidates.push(ref);
      kept.push(...candidates.map((candidate) => ({ candidate, winnerKey: choice.key })));
    }
    if (previous) withStoredWinner.add(key);
    const winner = winnerOf(
      ref,
      choice,
      earliest([
        ...group.map((candidate) => candidate.recordedAt),
        ...(previous ? [previous.createdAt] : []),
      ]),
    );
    if (isTie(choice)) ties.push(winner);
    const unchanged =
      previous &&
      previous.observedAt === winner.observedAt &&
      previous.deleted === winner.deleted &&
      previous.winnerKey === choice.key &&
      previous.createdAt.getTime() === winner.createdAt.getTime();
    if (!unchanged) changed.push(winner);
  }

  await store.replaceCandidates(withStoredCandidates, kept);
  await store.recordTies(ties);
  await store.saveWinners(
    changed.map((winner) => ({
      winner,
      links: linksOf(winner.objectType, winner.snapshot),
      replacing: withStoredWinner.has(objectKey(winner)),
    })),
  );
  return changed;
};
