import type { PoolClient } from 'pg';
import type { Environment } from '../domain/environment.js';
import { type LogEntry, logEntryType } from '../domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../domain/stripe/candidates.js';
import { linksOf, pairingOf, pruneCandidates, winningSnapshot } from '../domain/stripe/fold.js';
import { earliest } from '../domain/time.js';
import { updateCustomerMappings } from './customer-mappings.js';
import { PaymentsRowsProjection } from './payments-rows.js';
import type { Projector } from './projector.js';

const keysParams = (refs: ReadonlyArray<{ environment: string; objectType: string; objectId: string }>) => [
  refs.map((ref) => ref.environment),
  refs.map((ref) => ref.objectType),
  refs.map((ref) => ref.objectId),
];

/**
 * Rows of the given objects. `object_id = any(...)` lets Postgres go through the object_id index
 * whatever it believes of the table's size; the tuple test then keeps the exact keys.
 */
const ofKeys = (alias: string) => `
  ${alias}.object_id = any($3::text[])
  and (${alias}.environment, ${alias}.object_type, ${alias}.object_id)
    in (select * from unnest($1::text[], $2::text[], $3::text[]))`;

const loadCandidatesSql = `select c.* from payfold.stripe_object_candidates c where ${ofKeys('c')}`;
const loadObjectsSql = `
  select o.environment, o.object_type, o.object_id, extract(epoch from o.observed_at)::bigint as observed_at,
         o.deleted, o.snapshot, o.created_at
  from payments.stripe_objects o where ${ofKeys('o')}`;
const deleteCandidatesSql = `delete from payfold.stripe_object_candidates c where ${ofKeys('c')}`;
const insertCandidatesSql = `
  insert into payfold.stripe_object_candidates
  select * from jsonb_populate_recordset(null::payfold.stripe_object_candidates, $1::jsonb)`;
const upsertObjectsSql = `
  insert into payments.stripe_objects as o
    (environment, object_type, object_id, observed_at, deleted, snapshot, created_at, updated_at)
  select environment, object_type, object_id, to_timestamp(observed_at), deleted, snapshot, created_at, now()
  from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, observed_at bigint,
    deleted boolean, snapshot jsonb, created_at timestamptz)
  on conflict (environment, object_type, object_id) do update set
    observed_at = excluded.observed_at, deleted = excluded.deleted, snapshot = excluded.snapshot,
    created_at = excluded.created_at, updated_at = now()
  where (o.observed_at, o.deleted, o.snapshot, o.created_at)
    is distinct from (excluded.observed_at, excluded.deleted, excluded.snapshot, excluded.created_at)`;
const deleteLinksSql = `delete from payfold.stripe_object_links l where ${ofKeys('l')}`;
const insertLinksSql = `
  insert into payfold.stripe_object_links (environment, object_type, object_id, link, target_id)
  select environment, object_type, object_id, link, target_id
  from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, link text, target_id text)
  on conflict do nothing`;
const recordTiesSql = `
  insert into payfold.ambiguous_ties (environment, object_type, object_id, observed_at)
  select environment, object_type, object_id, observed_at
  from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, observed_at bigint)
  on conflict do nothing`;

interface CandidateRow {
  environment: Environment;
  object_type: string;
  object_id: string;
  candidate_key: string;
  observed_at: string;
  source: 'webhook' | 'api';
  event_id: string | null;
  event_type: string | null;
  is_created: boolean;
  is_deletion: boolean;
  is_winner: boolean;
  previous_attributes: Record<string, unknown> | null;
  snapshot: Candidate['snapshot'] | null;
  recorded_at: Date;
}

const candidateOfRow = (row: CandidateRow, winnerSnapshot: Candidate['snapshot'] | undefined): Candidate => ({
  environment: row.environment,
  objectType: row.object_type,
  objectId: row.object_id,
  observedAt: Number(row.observed_at),
  source: row.source,
  eventId: row.event_id,
  eventType: row.event_type,
  isCreated: row.is_created,
  isDeletion: row.is_deletion,
  previousAttributes: row.previous_attributes,
  snapshot: row.snapshot ?? (winnerSnapshot as Candidate['snapshot']),
  key: row.candidate_key,
  recordedAt: row.recorded_at,
});

const rowOfCandidate = (candidate: Candidate, winnerKey: string | undefined) => ({
  environment: candidate.environment,
  object_type: candidate.objectType,
  object_id: candidate.objectId,
  candidate_key: candidate.key,
  observed_at: candidate.observedAt,
  source: candidate.source,
  event_id: candidate.eventId,
  event_type: candidate.eventType,
  is_created: candidate.isCreated,
  is_deletion: candidate.isDeletion,
  is_winner: candidate.key === winnerKey,
  previous_attributes: candidate.previousAttributes,
  snapshot: candidate.key === winnerKey ? null : candidate.snapshot,
  recorded_at: candidate.recordedAt,
});

const objectKey = (ref: { environment: string; objectType: string; objectId: string }) =>
  `${ref.environment}\u0000${ref.objectType}\u0000${ref.objectId}`;

interface StoredObject {
  observedAt: number;
  deleted: boolean;
  snapshot: Candidate['snapshot'];
  createdAt: Date;
  /** Key of the candidate whose snapshot this is. */
  winnerKey?: string;
}

/**
 * Folds every Stripe object observation in the log into its winning snapshot
 * (`payments.stripe_objects`), then recomputes the `payments.*` rows built from the winners that
 * changed. The winner is a function of the set of candidates, so the tables do not depend on
 * delivery order or duplicates; rows are written only when a column changes.
 */
export const stripeObjectsProjector: Projector = {
  name: 'stripe_objects',
  entryTypes: [logEntryType.stripeEvent],
  async apply(client: PoolClient, entries: readonly LogEntry[]) {
    const incoming = new Map<string, Candidate[]>();
    for (const candidate of entries.flatMap(candidatesOfEntry)) {
      const key = objectKey(candidate);
      incoming.set(key, [...(incoming.get(key) ?? []), candidate]);
    }
    if (incoming.size === 0) return;
    const refs = [...incoming.values()].map((candidates) => candidates[0] as Candidate);

    const existingObjects = new Map<string, StoredObject>();
    for (const row of (await client.query(loadObjectsSql, keysParams(refs))).rows) {
      existingObjects.set(
        objectKey({ environment: row.environment, objectType: row.object_type, objectId: row.object_id }),
        {
          observedAt: Number(row.observed_at),
          deleted: row.deleted,
          snapshot: row.snapshot,
          createdAt: row.created_at,
        },
      );
    }
    const existingCandidates = new Map<string, Candidate[]>();
    for (const row of (await client.query<CandidateRow>(loadCandidatesSql, keysParams(refs))).rows) {
      const key = objectKey({
        environment: row.environment,
        objectType: row.object_type,
        objectId: row.object_id,
      });
      const stored = existingObjects.get(key);
      if (row.is_winner && stored) stored.winnerKey = row.candidate_key;
      existingCandidates.set(key, [
        ...(existingCandidates.get(key) ?? []),
        candidateOfRow(row, stored?.snapshot),
      ]);
    }

    const rewrittenCandidates: Array<ReturnType<typeof rowOfCandidate>> = [];
    const rewrittenRefs: Candidate[] = [];
    const changedObjects: Array<ReturnType<typeof rowOfObject>> = [];
    const ties: Array<{ environment: string; object_type: string; object_id: string; observed_at: number }> =
      [];
    for (const [key, arrived] of incoming) {
      const before = existingCandidates.get(key) ?? [];
      const merged = new Map(before.map((candidate) => [candidate.key, candidate]));
      for (const candidate of arrived) if (!merged.has(candidate.key)) merged.set(candidate.key, candidate);
      const kept = pruneCandidates([...merged.values()]);
      const ref = arrived[0] as Candidate;
      const winner = winningSnapshot(kept);
      if (!winner) continue;
      const stored = existingObjects.get(key);
      const keysOf = (candidates: Candidate[]) =>
        candidates
          .map((candidate) => candidate.key)
          .sort()
          .join();
      if (keysOf(kept) !== keysOf(before) || stored?.winnerKey !== winner.key) {
        rewrittenRefs.push(ref);
        rewrittenCandidates.push(...kept.map((candidate) => rowOfCandidate(candidate, winner.key)));
      }
      const createdAt = earliest([
        ...arrived.map((candidate) => candidate.recordedAt),
        ...(stored ? [stored.createdAt] : []),
      ]);
      if (winner.decidedBy === 'event_id' || winner.decidedBy === 'hash') {
        ties.push({
          environment: ref.environment,
          object_type: ref.objectType,
          object_id: ref.objectId,
          observed_at: winner.observedAt,
        });
      }
      const unchanged =
        stored &&
        stored.observedAt === winner.observedAt &&
        stored.deleted === winner.deleted &&
        stored.winnerKey === winner.key &&
        stored.createdAt.getTime() === createdAt.getTime();
      if (!unchanged) changedObjects.push(rowOfObject(ref, winner, createdAt));
    }

    if (rewrittenRefs.length > 0) {
      await client.query(deleteCandidatesSql, keysParams(rewrittenRefs));
      await client.query(insertCandidatesSql, [JSON.stringify(rewrittenCandidates)]);
    }
    if (ties.length > 0) await client.query(recordTiesSql, [JSON.stringify(ties)]);
    if (changedObjects.length > 0) {
      await client.query(upsertObjectsSql, [JSON.stringify(changedObjects)]);
      const changedRefs = changedObjects.map((object) => ({
        environment: object.environment,
        objectType: object.object_type,
        objectId: object.object_id,
      }));
      await client.query(deleteLinksSql, keysParams(changedRefs));
      const links = changedObjects.flatMap((object) =>
        linksOf(object.object_type, object.snapshot).map(({ link, targetId }) => ({
          environment: object.environment,
          object_type: object.object_type,
          object_id: object.object_id,
          link,
          target_id: targetId,
        })),
      );
      if (links.length > 0) await client.query(insertLinksSql, [JSON.stringify(links)]);
    }

    const pairings = [...incoming.values()].flat().flatMap((candidate) => {
      const pairing = pairingOf(candidate);
      return pairing
        ? [{ ...pairing, environment: candidate.environment, recordedAt: candidate.recordedAt }]
        : [];
    });
    const remappedCustomers = await updateCustomerMappings(client, pairings);

    const rows = new PaymentsRowsProjection(client);
    for (const object of changedObjects) {
      rows.objectChanged(
        { environment: object.environment, objectType: object.object_type, objectId: object.object_id },
        { snapshot: object.snapshot, deleted: object.deleted, createdAt: object.created_at },
      );
    }
    for (const { environment, customerId } of remappedCustomers)
      await rows.mappingChanged(environment, customerId);
    await rows.write();
  },
};

const rowOfObject = (
  ref: Candidate,
  winner: NonNullable<ReturnType<typeof winningSnapshot>>,
  createdAt: Date,
) => ({
  environment: ref.environment,
  object_type: ref.objectType,
  object_id: ref.objectId,
  observed_at: winner.observedAt,
  deleted: winner.deleted,
  snapshot: winner.snapshot,
  created_at: createdAt,
});
