import type { PoolClient } from 'pg';
import type { Environment } from '../domain/environment.js';
import type { LogEntry } from '../domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../domain/stripe/candidates.js';
import { linksOf } from '../domain/stripe/links.js';
import { pairingOf } from '../domain/stripe/pairings.js';
import { winningSnapshot } from '../domain/stripe/winner.js';
import { type PaymentsStore, paymentsStore, type StoredPairing } from './payments-store.js';
import type { ProjectionRebuild, Rescan } from './projector.js';
import { rootsAffectedBy, writeRowsOfRoots } from './recompute.js';
import { storedMappings } from './tables/customer-mappings.js';
import { keyOf, type ObjectRef, objectKey, type Winner } from './tables/table.js';
import { isTie, winnerOf } from './winning-snapshots.js';

/** Objects whose winners, and then whose rows, are written by one statement of each kind. */
const objectsPerWrite = 1000;

/**
 * What the first pass remembers of an object: which candidates can still win (those of its latest
 * second, apart for deletions, as `pruneCandidates` keeps them) without their snapshots, so that
 * memory follows the number of objects and not the size of the log.
 */
interface ObjectTrack {
  snapshotSecond: number;
  deletionSecond: number;
  /** The ordinal of the last entry whose candidate can still win: the second pass's cue. */
  lastOrdinal: number;
  /** The earliest recorded time of an entry about the object. */
  createdAt: number;
}

type EnvironmentPairing = StoredPairing & { environment: Environment };

/**
 * The payments projection built from nothing, for a first start and a rebuild: the same tables
 * the batches of `paymentsProjector` arrive at, with each row written once.
 * 1. First pass: for every object, the second its winner comes from and the last entry that can
 *    still win; every subject–customer pairing.
 * 2. Second pass (the same entries again): each object's candidates of that second, judged by the
 *    winner rule as soon as the last of them is read, written to `payments.stripe_objects` and to
 *    the state the batches keep, a thousand objects at a time.
 * 3. Customer mappings from every pairing.
 * 4. The rows of every table, root by root, each root once.
 */
export const rebuildPayments = (client: PoolClient): ProjectionRebuild => {
  const store = paymentsStore(client);
  const objects = new Map<string, ObjectTrack>();
  const pairings = new Map<string, EnvironmentPairing>();
  let ordinal = 0;

  const track = (candidate: Candidate) => {
    const key = objectKey(candidate);
    const known = objects.get(key);
    const recordedAt = candidate.recordedAt.getTime();
    const second = candidate.observedAt;
    if (!known) {
      objects.set(key, {
        snapshotSecond: candidate.isDeletion ? Number.NEGATIVE_INFINITY : second,
        deletionSecond: candidate.isDeletion ? second : Number.NEGATIVE_INFINITY,
        lastOrdinal: ordinal,
        createdAt: recordedAt,
      });
      return;
    }
    known.createdAt = Math.min(known.createdAt, recordedAt);
    const latest = candidate.isDeletion ? known.deletionSecond : known.snapshotSecond;
    if (second < latest) return;
    if (candidate.isDeletion) known.deletionSecond = second;
    else known.snapshotSecond = second;
    known.lastOrdinal = ordinal;
  };

  const pair = (candidate: Candidate) => {
    const pairing = pairingOf(candidate);
    if (!pairing) return;
    const key = keyOf(candidate.environment, pairing.subject.type, pairing.subject.id, pairing.customerId);
    const known = pairings.get(key);
    pairings.set(key, {
      ...pairing,
      environment: candidate.environment,
      observedAt: Math.min(pairing.observedAt, known?.observedAt ?? pairing.observedAt),
      recordedAt: known && known.recordedAt < candidate.recordedAt ? known.recordedAt : candidate.recordedAt,
    });
  };

  return {
    async add(entries: readonly LogEntry[]) {
      for (const entry of entries) {
        for (const candidate of candidatesOfEntry(entry)) {
          track(candidate);
          pair(candidate);
        }
        ordinal += 1;
      }
    },

    async finish(rescan: Rescan) {
      const refs = await writeWinners(store, objects, rescan);
      objects.clear();
      await writeMappings(store, [...pairings.values()]);
      pairings.clear();
      await writeRows(store, refs);
    },
  };
};

/** Step 2: every object's winner, from a second pass over the entries. Returns the objects in the order written. */
const writeWinners = async (
  store: PaymentsStore,
  objects: ReadonlyMap<string, ObjectTrack>,
  rescan: Rescan,
): Promise<ObjectRef[]> => {
  const written: ObjectRef[] = [];
  const waiting = new Map<string, Map<string, Candidate>>();
  let decided: Array<{ candidates: Candidate[]; track: ObjectTrack }> = [];
  const flush = async () => {
    const batch = decided;
    decided = [];
    const winners: Winner[] = [];
    const ties: Winner[] = [];
    const kept: Array<{ candidate: Candidate; winnerKey: string }> = [];
    for (const { candidates, track } of batch) {
      const choice = winningSnapshot(candidates);
      const ref = candidates[0];
      if (!choice || !ref) continue;
      const winner = winnerOf(ref, choice, new Date(track.createdAt));
      winners.push(winner);
      if (isTie(choice)) ties.push(winner);
      kept.push(...candidates.map((candidate) => ({ candidate, winnerKey: choice.key })));
      written.push({ environment: ref.environment, objectType: ref.objectType, objectId: ref.objectId });
    }
    await store.addCandidates(kept);
    await store.recordTies(ties);
    await store.addWinners(
      winners.map((winner) => ({ winner, links: linksOf(winner.objectType, winner.snapshot) })),
    );
  };

  // Postgres writes one thousand winners while the next thousand are read and judged.
  let writing = Promise.resolve();
  const write = async () => {
    await writing;
    writing = flush();
    writing.catch(() => undefined);
  };
  let ordinal = 0;
  await rescan(async (entries) => {
    for (const entry of entries) {
      for (const candidate of candidatesOfEntry(entry)) {
        const key = objectKey(candidate);
        const track = objects.get(key) as ObjectTrack;
        const second = candidate.isDeletion ? track.deletionSecond : track.snapshotSecond;
        if (candidate.observedAt === second) {
          const candidates = waiting.get(key) ?? new Map<string, Candidate>();
          candidates.set(candidate.key, candidate);
          waiting.set(key, candidates);
        }
        if (track.lastOrdinal === ordinal) {
          decided.push({ candidates: [...(waiting.get(key)?.values() ?? [])], track });
          waiting.delete(key);
        }
      }
      ordinal += 1;
    }
    if (decided.length >= objectsPerWrite) await write();
  });
  await write();
  await writing;
  return written;
};

/** Step 3: every pairing, and the mappings they make. */
const writeMappings = async (store: PaymentsStore, pairings: readonly EnvironmentPairing[]) => {
  await store.savePairings(pairings);
  for (const environment of new Set(pairings.map((pairing) => pairing.environment))) {
    await store.insertMappings(
      environment,
      storedMappings(pairings.filter((pairing) => pairing.environment === environment)),
    );
  }
};

/**
 * Step 4: the rows of every table. A root's rows read other winners, so they are built once every
 * winner is written; each root is built once, from the first of its winners to name it.
 */
const writeRows = async (store: PaymentsStore, refs: readonly ObjectRef[]) => {
  const built = new Set<string>();
  for (let at = 0; at < refs.length; at += objectsPerWrite) {
    const source = store.winnerSource([]);
    const winners = (
      await Promise.all(
        refs
          .slice(at, at + objectsPerWrite)
          .map((ref) => source.winner(ref.environment, ref.objectType, ref.objectId)),
      )
    ).filter((winner) => winner !== undefined);
    await writeRowsOfRoots(store, source, async (table) =>
      (await rootsAffectedBy(table, winners, source)).filter((root) => {
        const key = keyOf(table.name, objectKey(root));
        if (built.has(key)) return false;
        built.add(key);
        return true;
      }),
    );
  }
};
