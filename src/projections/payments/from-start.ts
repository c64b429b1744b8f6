import type { PoolClient } from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { LogEntry } from '../../domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../../domain/stripe/candidates.js';
import { linksOf } from '../../domain/stripe/links.js';
import { pairingOf } from '../../domain/stripe/pairings.js';
import { distinctCandidates, winningSnapshot } from '../../domain/stripe/winner.js';
import type { ParkEntry, ProjectionRebuild, Rescan } from '../engine/index.js';
import { rootsAffectedBy, writeRowsOfRoots } from './recompute.js';
import { type PaymentsStore, paymentsStore, type StoredPairing } from './store.js';
import { storedMappings } from './tables/customer-mappings.js';
import { keyOf, type ObjectRef, objectKey, partsOf, type Winner } from './tables/table.js';
import { isTie, winnerOf } from './winning-snapshots.js';

/** Objects whose winners, and then whose rows, are written by one statement of each kind. */
const objectsPerWrite = 1000;

/**
 * What the first pass remembers of each object: which candidates can still win (those of its
 * latest second, apart for deletions, as `pruneCandidates` keeps them) without their snapshots, so
 * that memory follows the number of objects and not the size of the log. Objects are numbered in
 * the order first seen, and each fact is a column of plain numbers: with an object per object, a
 * catch-up of a million entries (550,000 objects) peaked at 1,203 MB of RSS, and 819 MB this way.
 */
class ObjectTracks {
  private readonly numbers = new Map<string, number>();
  /** Each object's key (`objectKey`), by number. */
  readonly keys: string[] = [];
  private readonly snapshotSeconds: number[] = [];
  private readonly deletionSeconds: number[] = [];
  /** The ordinal of the last entry whose candidate can still win: the second pass's cue. */
  private readonly lastOrdinals: number[] = [];
  /** The earliest recorded time of an entry about the object. */
  private readonly createdAts: number[] = [];

  numberOf(key: string): number | undefined {
    return this.numbers.get(key);
  }

  track(candidate: Candidate, ordinal: number): void {
    const key = objectKey(candidate);
    const recordedAt = candidate.recordedAt.getTime();
    const second = candidate.observedAt;
    const known = this.numbers.get(key);
    if (known === undefined) {
      this.numbers.set(key, this.keys.length);
      this.keys.push(key);
      this.snapshotSeconds.push(candidate.isDeletion ? Number.NEGATIVE_INFINITY : second);
      this.deletionSeconds.push(candidate.isDeletion ? second : Number.NEGATIVE_INFINITY);
      this.lastOrdinals.push(ordinal);
      this.createdAts.push(recordedAt);
      return;
    }
    this.createdAts[known] = Math.min(this.createdAts[known] as number, recordedAt);
    const seconds = candidate.isDeletion ? this.deletionSeconds : this.snapshotSeconds;
    if (second < (seconds[known] as number)) return;
    seconds[known] = second;
    this.lastOrdinals[known] = ordinal;
  }

  /** The second a candidate of this kind (deletion or snapshot) must be of to still win. */
  winningSecond(number: number, isDeletion: boolean): number {
    return (isDeletion ? this.deletionSeconds : this.snapshotSeconds)[number] as number;
  }

  lastOrdinal(number: number): number {
    return this.lastOrdinals[number] as number;
  }

  createdAt(number: number): Date {
    return new Date(this.createdAts[number] as number);
  }
}

type EnvironmentPairing = StoredPairing & { environment: Environment };

/**
 * The payments projection built from nothing, for a first start and a rebuild: the same tables
 * the batches of `paymentsProjector` arrive at, with each row written once.
 * 1. First pass: for every object, the second its winner comes from and the last entry that can
 *    still win; every subject–customer pairing.
 * 2. Customer mappings from every pairing (written, and the pairings let go, before the second
 *    pass, which holds the most memory).
 * 3. Second pass (the same entries again): each object's candidates of that second, judged by the
 *    winner rule as soon as the last of them is read, written to `payments.stripe_objects` and to
 *    the state the batches keep, a thousand objects at a time.
 * 4. The rows of every table, root by root, each root once.
 */
export const rebuildPayments = (client: PoolClient, park: ParkEntry): ProjectionRebuild => {
  const store = paymentsStore(client);
  /** Entries whose Stripe objects cannot be read: parked once, passed over in both passes. */
  const unreadable = new Set<bigint>();
  const candidatesOf = async (entry: LogEntry): Promise<Candidate[]> => {
    if (unreadable.has(entry.position)) return [];
    try {
      return candidatesOfEntry(entry);
    } catch (error) {
      await park(entry, error);
      unreadable.add(entry.position);
      return [];
    }
  };
  const objects = new ObjectTracks();
  const pairings = new Map<string, EnvironmentPairing>();
  let ordinal = 0;

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
        for (const candidate of await candidatesOf(entry)) {
          objects.track(candidate, ordinal);
          pair(candidate);
        }
        ordinal += 1;
      }
    },

    async finish(rescan: Rescan) {
      await writeMappings(store, [...pairings.values()]);
      pairings.clear();
      await writeWinners(store, objects, rescan, candidatesOf);
      await writeRows(store, objects);
    },
  };
};

/** Step 2: every pairing, and the mappings they make. */
const writeMappings = async (store: PaymentsStore, pairings: readonly EnvironmentPairing[]) => {
  await store.savePairings(pairings);
  for (const environment of new Set(pairings.map((pairing) => pairing.environment))) {
    await store.insertMappings(
      environment,
      storedMappings(pairings.filter((pairing) => pairing.environment === environment)),
    );
  }
};

/** Step 3: every object's winner, from a second pass over the entries. */
const writeWinners = async (
  store: PaymentsStore,
  objects: ObjectTracks,
  rescan: Rescan,
  candidatesOf: (entry: LogEntry) => Promise<Candidate[]>,
): Promise<void> => {
  const waiting = new Map<number, Candidate[]>();
  let decided: Array<{ candidates: Candidate[]; object: number }> = [];
  const flush = async () => {
    const batch = decided;
    decided = [];
    const winners: Winner[] = [];
    const ties: Winner[] = [];
    const kept: Array<{ candidate: Candidate; winnerKey: string }> = [];
    for (const { candidates, object } of batch) {
      const choice = winningSnapshot(candidates);
      const ref = candidates[0];
      if (!choice || !ref) continue;
      const winner = winnerOf(ref, choice, objects.createdAt(object));
      winners.push(winner);
      if (isTie(choice)) ties.push(winner);
      kept.push(...candidates.map((candidate) => ({ candidate, winnerKey: choice.key })));
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
      for (const candidate of await candidatesOf(entry)) {
        const object = objects.numberOf(objectKey(candidate)) as number;
        if (candidate.observedAt === objects.winningSecond(object, candidate.isDeletion)) {
          const candidates = waiting.get(object) ?? [];
          candidates.push(candidate);
          waiting.set(object, candidates);
        }
        if (objects.lastOrdinal(object) === ordinal) {
          // One candidate per key, by the batches' own rule.
          decided.push({ candidates: distinctCandidates(waiting.get(object) ?? []), object });
          waiting.delete(object);
        }
      }
      ordinal += 1;
    }
    if (decided.length >= objectsPerWrite) await write();
  });
  await write();
  await writing;
};

/**
 * Step 4: the rows of every table. A root's rows read other winners, so they are built once every
 * winner is written; each root is built once, from the first of its winners to name it.
 */
const writeRows = async (store: PaymentsStore, objects: ObjectTracks) => {
  // Per table, the roots built so far: by object number (roots are objects of the log), by key
  // for a root the log never named.
  const built = new Map<string, { numbers: Set<number>; keys: Set<string> }>();
  const firstTime = (table: string, root: ObjectRef): boolean => {
    let seen = built.get(table);
    if (!seen) {
      seen = { numbers: new Set(), keys: new Set() };
      built.set(table, seen);
    }
    const key = objectKey(root);
    const number = objects.numberOf(key);
    if (number === undefined) {
      if (seen.keys.has(key)) return false;
      seen.keys.add(key);
      return true;
    }
    if (seen.numbers.has(number)) return false;
    seen.numbers.add(number);
    return true;
  };
  const buildBatch = async (at: number) => {
    const source = store.winnerSource([]);
    const winners = (
      await Promise.all(
        objects.keys.slice(at, at + objectsPerWrite).map((key) => {
          const [environment, objectType, objectId] = partsOf(key) as [Environment, string, string];
          return source.winner(environment, objectType, objectId);
        }),
      )
    ).filter((winner) => winner !== undefined);
    await writeRowsOfRoots(store, source, async (table) =>
      (await rootsAffectedBy(table, winners, source)).filter((root) => firstTime(table.name, root)),
    );
  };
  // Two batches at a time: Postgres runs one's statements while Node builds the other's rows. After
  // a failure neither takes another batch, and both have stopped writing before the caller hears of
  // it and rolls the transaction back.
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < objects.keys.length) {
      const at = next;
      next += objectsPerWrite;
      try {
        await buildBatch(at);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all([worker(), worker()]);
  if (failure) throw failure.error;
};
