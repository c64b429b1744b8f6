import { createHash } from 'node:crypto';
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { Candidate } from '../../domain/stripe/candidates.js';
import type { Link } from '../../domain/stripe/links.js';
import type { Pairing } from '../../domain/stripe/pairings.js';
import type { Subject } from '../../domain/subject.js';
import {
  addTo,
  type BuiltRow,
  type Columns,
  type DerivedTable,
  keyOf,
  type ObjectRef,
  objectKey,
  partsOf,
  type RowOf,
  type TableShape,
  type Winner,
  type WinnerSource,
} from './tables/table.js';

/**
 * Every statement of the payments projection, by name. Each runs inside the runner's transaction
 * on the one client it is given. Keys travel as parallel arrays (`unnest`), rows as JSON
 * recordsets.
 */

/**
 * Rows of the given objects. `object_id = any(...)` lets Postgres go through the object_id index
 * whatever it believes of the table's size; the tuple test then keeps the exact keys.
 */
const ofObjects = (alias: string) => `
  ${alias}.object_id = any($3::text[])
  and (${alias}.environment, ${alias}.object_type, ${alias}.object_id)
    in (select * from unnest($1::text[], $2::text[], $3::text[]))`;

/** The engine's own state behind the payments projection: emptied with its tables by a rebuild. */
export const paymentsProjectionStateTables = [
  'payfold.stripe_object_candidates',
  'payfold.stripe_object_links',
  'payfold.subject_pairings',
  'payfold.ambiguous_ties',
] as const;

const insertWinners = `
    insert into payments.stripe_objects as o
      (environment, object_type, object_id, observed_at, deleted, snapshot, created_at, updated_at)
    select environment, object_type, object_id, to_timestamp(observed_at), deleted, snapshot, created_at, now()
    from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, observed_at bigint,
      deleted boolean, snapshot jsonb, created_at timestamptz)`;

const statements = {
  insertWinners,
  loadCandidates: `select c.* from payfold.stripe_object_candidates c where ${ofObjects('c')}`,
  loadWinners: `
    select o.environment, o.object_type, o.object_id, extract(epoch from o.observed_at)::bigint as observed_at,
           o.deleted, o.snapshot, o.created_at
    from payments.stripe_objects o where ${ofObjects('o')}`,
  deleteCandidates: `delete from payfold.stripe_object_candidates c where ${ofObjects('c')}`,
  insertCandidates: `
    insert into payfold.stripe_object_candidates
    select * from jsonb_populate_recordset(null::payfold.stripe_object_candidates, $1::jsonb)`,
  upsertWinners: `
    ${insertWinners}
    on conflict (environment, object_type, object_id) do update set
      observed_at = excluded.observed_at, deleted = excluded.deleted, snapshot = excluded.snapshot,
      created_at = excluded.created_at, updated_at = now()
    where (o.observed_at, o.deleted, o.snapshot, o.created_at)
      is distinct from (excluded.observed_at, excluded.deleted, excluded.snapshot, excluded.created_at)`,
  deleteLinks: `delete from payfold.stripe_object_links l where ${ofObjects('l')}`,
  insertLinks: `
    insert into payfold.stripe_object_links (environment, object_type, object_id, link, target_id)
    select environment, object_type, object_id, link, target_id
    from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, link text, target_id text)
    on conflict do nothing`,
  // Each of these reads joins its keys (`unnest`) to the table, so that Postgres looks each key up
  // in an index: its cost follows the keys asked for, not the size of the table.
  linksTo: `
    select l.environment, l.target_id, l.link, l.object_type, l.object_id
    from unnest($1::text[], $2::text[]) as k(environment, target_id)
    join payfold.stripe_object_links l on l.environment = k.environment and l.target_id = k.target_id`,
  recordTies: `
    insert into payfold.ambiguous_ties (environment, object_type, object_id, observed_at)
    select environment, object_type, object_id, observed_at
    from jsonb_to_recordset($1::jsonb) as r(environment text, object_type text, object_id text, observed_at bigint)
    on conflict do nothing`,
  upsertPairings: `
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
    returning environment`,
  pairingsTouching: `
    select p.subject_type, p.subject_id, p.customer_id, p.observed_at, p.recorded_at
    from unnest($2::text[], $3::text[]) as s(subject_type, subject_id)
    join payfold.subject_pairings p
      on p.environment = $1 and p.subject_type = s.subject_type and p.subject_id = s.subject_id
    union
    select subject_type, subject_id, customer_id, observed_at, recorded_at from payfold.subject_pairings
    where environment = $1 and customer_id = any($4::text[])`,
  mappingsTouching: `
    select m.subject_type, m.subject_id, m.customer_id, m.created_at
    from unnest($2::text[], $3::text[]) as s(subject_type, subject_id)
    join payments.customer_mappings m
      on m.environment = $1 and m.subject_type = s.subject_type and m.subject_id = s.subject_id
    union
    select subject_type, subject_id, customer_id, created_at from payments.customer_mappings
    where environment = $1 and customer_id = any($4::text[])`,
  mappedSubjects: `
    select m.environment, m.customer_id, m.subject_type, m.subject_id
    from unnest($1::text[], $2::text[]) as k(environment, customer_id)
    join payments.customer_mappings m on m.environment = k.environment and m.customer_id = k.customer_id`,
  deleteMapping: `
    delete from payments.customer_mappings where environment = $1 and subject_type = $2 and subject_id = $3`,
  insertMappings: `
    insert into payments.customer_mappings (environment, subject_type, subject_id, customer_id, created_at, updated_at)
    select $1, subject_type, subject_id, customer_id, created_at, now()
    from unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[])
      as m(subject_type, subject_id, customer_id, created_at)`,
} as const;

interface TableStatements {
  upsert: string;
  rowsOfCustomers: string;
  deleteUnbuilt: (groupColumn: string) => string;
  /**
   * The key column that tells a group's rows apart: neither `environment` nor the group's column
   * (a subscription's items by item id, a customer's entitlements by lookup key).
   */
  memberColumn: (groupColumn: string) => string;
}

/** Statements built once per table from its definition. */
const tableStatements = new Map<TableShape<Columns>, TableStatements>();

const statementsOf = (table: TableShape<Columns>): TableStatements => {
  const known = tableStatements.get(table);
  if (known) return known;
  const key = table.key as readonly string[];
  const others = Object.keys(table.columns).filter((column) => !key.includes(column));
  const all = [...key, ...others];
  const memberColumn = (groupColumn: string) =>
    key.find((column) => column !== 'environment' && column !== groupColumn) as string;
  const built: TableStatements = {
    /**
     * Inserts new rows and updates changed ones; a row whose columns are all equal is not written,
     * so user triggers fire once per real change and never for a replay. `created_at` is the
     * earliest recorded time behind the row and only ever moves back.
     */
    upsert: `
      insert into ${table.name} as t (${all.join(', ')}, created_at, updated_at)
      select ${all.join(', ')}, created_at, now()
      from jsonb_populate_recordset(null::${table.name}, $1::jsonb)
      on conflict (${key.join(', ')}) do update set
        ${others.map((column) => `${column} = excluded.${column}`).join(', ')},
        created_at = least(t.created_at, excluded.created_at),
        updated_at = now()
      where (${others.map((column) => `t.${column}`).join(', ')}, t.created_at)
        is distinct from (${others.map((column) => `excluded.${column}`).join(', ')}, least(t.created_at, excluded.created_at))`,
    /** Rows that fall back to the mapping of one of these customers. */
    rowsOfCustomers: `
      select distinct to_jsonb(t) as row
      from unnest($1::text[], $2::text[]) as k(environment, customer_id)
      join ${table.name} t on t.environment = k.environment and t.customer_id = k.customer_id`,
    /** Rows of a complete set (a subscription's items) that its root no longer lists. */
    deleteUnbuilt: (groupColumn) => `
      delete from ${table.name} t
      using jsonb_to_recordset($1::jsonb) as s(environment text, root_id text, ids text[])
      where t.environment = s.environment and t.${groupColumn} = s.root_id
        and not (t.${memberColumn(groupColumn)} = any(s.ids))`,
    memberColumn,
  };
  tableStatements.set(table, built);
  return built;
};

const winnersParam = (winners: ReadonlyArray<{ winner: Winner }>): string =>
  JSON.stringify(
    winners.map(({ winner }) => ({
      environment: winner.environment,
      object_type: winner.objectType,
      object_id: winner.objectId,
      observed_at: winner.observedAt,
      deleted: winner.deleted,
      snapshot: winner.snapshot,
      created_at: winner.createdAt,
    })),
  );

const objectParams = (refs: readonly ObjectRef[]) => [
  refs.map((ref) => ref.environment),
  refs.map((ref) => ref.objectType),
  refs.map((ref) => ref.objectId),
];

/** A candidate as stored in `payfold.stripe_object_candidates`. */
interface CandidateRow {
  environment: Environment;
  object_type: string;
  object_id: string;
  candidate_key: string;
  observed_at: string | number;
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

/** A stored winner and the key of the candidate it came from. */
export interface StoredWinner extends Winner {
  winnerKey: string | undefined;
}

export interface StoredCandidates {
  winners: Map<string, StoredWinner>;
  candidates: Map<string, Candidate[]>;
}

export interface StoredMapping {
  subject: Subject;
  customerId: string;
  createdAt: Date;
}

export type StoredPairing = Pairing & { recordedAt: Date };

/** What the statements run on: one transaction's client, one statement at a time. */
interface StatementRunner {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

const preparedNames = new Map<string, string>();

/**
 * The name a write is prepared under, from its text: each connection parses and plans it once,
 * not once per batch. Reads and deletes by lists of keys are planned for each call: a plan made
 * once for any list (a generic plan) measured slower for them than the planning it saves.
 */
const preparedName = (text: string): string | undefined => {
  if (!text.trimStart().startsWith('insert')) return undefined;
  let name = preparedNames.get(text);
  if (!name) {
    name = `payfold_payments_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    preparedNames.set(text, name);
  }
  return name;
};

/**
 * Runs statements one after another in the order they are asked for, each as a prepared
 * statement. The steps of the projection ask concurrently (every table at once, and the winner
 * source's batched reads), and a pg client must not be handed a query while it runs another.
 */
const inOrder = (client: PoolClient): StatementRunner => {
  let last: Promise<unknown> = Promise.resolve();
  return {
    query<R extends QueryResultRow>(text: string, values?: unknown[]) {
      const next = last.then(() => client.query<R>({ name: preparedName(text), text, values }));
      last = next.catch(() => undefined);
      return next;
    },
  };
};

export const paymentsStore = (transaction: PoolClient) => {
  const client = inOrder(transaction);
  return paymentsStatements(client);
};

/** Each object's candidates and winning snapshot, the ties, and the links winners show. */
const winnerStatements = (client: StatementRunner) => ({
  /** The stored winners of these objects and the candidates of their latest second. */
  async loadCandidates(refs: readonly ObjectRef[]): Promise<StoredCandidates> {
    const winners = new Map<string, StoredWinner>();
    for (const row of (await client.query<WinnerRow>(statements.loadWinners, objectParams(refs))).rows) {
      const winner = winnerOfRow(row);
      winners.set(objectKey(winner), { ...winner, winnerKey: undefined });
    }
    const candidates = new Map<string, Candidate[]>();
    for (const row of (await client.query<CandidateRow>(statements.loadCandidates, objectParams(refs)))
      .rows) {
      const key = objectKey({
        environment: row.environment,
        objectType: row.object_type,
        objectId: row.object_id,
      });
      const stored = winners.get(key);
      if (row.is_winner && stored) stored.winnerKey = row.candidate_key;
      addTo(candidates, key, candidateOfRow(row, stored?.snapshot));
    }
    return { winners, candidates };
  },

  /**
   * Stores the candidates kept, in place of those stored for `replaced` (objects seen before); the
   * winner's snapshot is not stored twice.
   */
  async replaceCandidates(
    replaced: readonly ObjectRef[],
    kept: ReadonlyArray<{ candidate: Candidate; winnerKey: string }>,
  ): Promise<void> {
    if (replaced.length > 0) await client.query(statements.deleteCandidates, objectParams(replaced));
    await this.addCandidates(kept);
  },

  /** Stores candidates of objects that have none stored. */
  async addCandidates(kept: ReadonlyArray<{ candidate: Candidate; winnerKey: string }>): Promise<void> {
    if (kept.length === 0) return;
    await client.query(statements.insertCandidates, [
      JSON.stringify(kept.map(({ candidate, winnerKey }) => rowOfCandidate(candidate, winnerKey))),
    ]);
  },

  async recordTies(ties: readonly Winner[]): Promise<void> {
    if (ties.length === 0) return;
    await client.query(statements.recordTies, [
      JSON.stringify(
        ties.map((tie) => ({
          environment: tie.environment,
          object_type: tie.objectType,
          object_id: tie.objectId,
          observed_at: tie.observedAt,
        })),
      ),
    ]);
  },

  /**
   * Writes new winners with the links they show, in place of the old ones (`replacing` says which
   * had a winner stored: only theirs have links to remove).
   */
  async saveWinners(
    winners: ReadonlyArray<{ winner: Winner; links: Link[]; replacing: boolean }>,
  ): Promise<void> {
    if (winners.length === 0) return;
    await client.query(statements.upsertWinners, [winnersParam(winners)]);
    const replaced = winners.filter(({ replacing }) => replacing).map(({ winner }) => winner);
    if (replaced.length > 0) await client.query(statements.deleteLinks, objectParams(replaced));
    await this.addLinks(winners);
  },

  /** Writes the winners of objects that have none yet (a rebuild's), with the links they show. */
  async addWinners(winners: ReadonlyArray<{ winner: Winner; links: Link[] }>): Promise<void> {
    if (winners.length === 0) return;
    await client.query(statements.insertWinners, [winnersParam(winners)]);
    await this.addLinks(winners);
  },

  async addLinks(winners: ReadonlyArray<{ winner: Winner; links: Link[] }>): Promise<void> {
    const links = winners.flatMap(({ winner, links }) =>
      links.map(({ link, targetId }) => ({
        environment: winner.environment,
        object_type: winner.objectType,
        object_id: winner.objectId,
        link,
        target_id: targetId,
      })),
    );
    if (links.length > 0) await client.query(statements.insertLinks, [JSON.stringify(links)]);
  },
});

/** Subjects' pairings with customers, and the mappings they settle into. */
const mappingStatements = (client: StatementRunner) => ({
  /** Records pairings; true when one was new or earlier than the one known. */
  async savePairings(
    pairings: ReadonlyArray<StoredPairing & { environment: Environment }>,
  ): Promise<boolean> {
    if (pairings.length === 0) return false;
    const rows = pairings.map((pairing) => ({
      environment: pairing.environment,
      subject_type: pairing.subject.type,
      subject_id: pairing.subject.id,
      customer_id: pairing.customerId,
      observed_at: pairing.observedAt,
      recorded_at: pairing.recordedAt,
    }));
    const { rowCount } = await client.query(statements.upsertPairings, [JSON.stringify(rows)]);
    return (rowCount ?? 0) > 0;
  },

  /** Pairings of any of these subjects (as `keyOf(type, id)`) or customers. */
  async pairingsTouching(
    environment: Environment,
    subjects: ReadonlySet<string>,
    customers: ReadonlySet<string>,
  ): Promise<StoredPairing[]> {
    const { rows } = await client.query(
      statements.pairingsTouching,
      touchingParams(environment, subjects, customers),
    );
    return rows.map((row) => ({
      subject: { type: row.subject_type, id: row.subject_id },
      customerId: row.customer_id,
      observedAt: Number(row.observed_at),
      recordedAt: row.recorded_at,
    }));
  },

  async mappingsTouching(
    environment: Environment,
    subjects: ReadonlySet<string>,
    customers: ReadonlySet<string>,
  ): Promise<StoredMapping[]> {
    const { rows } = await client.query(
      statements.mappingsTouching,
      touchingParams(environment, subjects, customers),
    );
    return rows.map((row) => ({
      subject: { type: row.subject_type, id: row.subject_id },
      customerId: row.customer_id,
      createdAt: row.created_at,
    }));
  },

  async deleteMapping(environment: Environment, mapping: StoredMapping): Promise<void> {
    await client.query(statements.deleteMapping, [environment, mapping.subject.type, mapping.subject.id]);
  },

  async insertMappings(environment: Environment, mappings: readonly StoredMapping[]): Promise<void> {
    if (mappings.length === 0) return;
    await client.query(statements.insertMappings, [
      environment,
      mappings.map((mapping) => mapping.subject.type),
      mappings.map((mapping) => mapping.subject.id),
      mappings.map((mapping) => mapping.customerId),
      mappings.map((mapping) => mapping.createdAt),
    ]);
  },
});

/** The rows of the payments tables, written where a column differs. */
const rowStatements = (client: StatementRunner) => ({
  /** The stored rows of a table whose customer is one of these, as their roots. */
  async rootsOfCustomers<C extends Columns>(
    table: DerivedTable<C>,
    customers: ReadonlyArray<{ environment: Environment; customerId: string }>,
  ): Promise<ObjectRef[]> {
    const rootOf = table.mappedRowRoot;
    if (!rootOf || customers.length === 0) return [];
    const { rows } = await client.query<{ row: RowOf<C> }>(statementsOf(table).rowsOfCustomers, [
      customers.map((customer) => customer.environment),
      customers.map((customer) => customer.customerId),
    ]);
    return rows.map(({ row }) => rootOf(row));
  },

  /** Writes the rows built for some roots: new and changed ones only, and removes rows a complete set no longer has. */
  async writeRows<C extends Columns>(
    table: DerivedTable<C>,
    built: ReadonlyArray<{ root: ObjectRef; rows: BuiltRow<C>[]; completeBy?: keyof C & string }>,
  ): Promise<void> {
    const shape = statementsOf(table);
    const sets = built.filter((entry) => entry.completeBy);
    for (const group of new Set(sets.map((entry) => entry.completeBy as string))) {
      await client.query(shape.deleteUnbuilt(group), [
        JSON.stringify(
          sets
            .filter((entry) => entry.completeBy === group)
            .map((entry) => ({
              environment: entry.root.environment,
              root_id: entry.root.objectId,
              ids: entry.rows.map(({ row }) => (row as Record<string, unknown>)[shape.memberColumn(group)]),
            })),
        ),
      ]);
    }
    // One row per key: a statement may not update the same row twice.
    const byKey = new Map<string, Record<string, unknown>>();
    for (const { row, createdAt } of built.flatMap((entry) => entry.rows)) {
      const values = row as Record<string, unknown>;
      byKey.set(keyOf(...table.key.map((column) => String(values[column]))), {
        ...values,
        created_at: createdAt,
      });
    }
    if (byKey.size > 0) await client.query(shape.upsert, [JSON.stringify([...byKey.values()])]);
  },

  /** A winner source over this transaction, seeded with the winners it has just written. */
  winnerSource(seeded: readonly Winner[]): BatchedWinnerSource {
    return new BatchedWinnerSource(client, seeded);
  },
});

const paymentsStatements = (client: StatementRunner) => ({
  ...winnerStatements(client),
  ...mappingStatements(client),
  ...rowStatements(client),
});

export type PaymentsStore = ReturnType<typeof paymentsStatements>;

/** Parameters of the statements that find what touches some subjects (`keyOf(type, id)`) or customers. */
const touchingParams = (
  environment: Environment,
  subjects: ReadonlySet<string>,
  customers: ReadonlySet<string>,
) => {
  const pairs = [...subjects].map(partsOf);
  return [environment, pairs.map(([type]) => type), pairs.map(([, id]) => id), [...customers]];
};

const winnerOfRow = (row: {
  environment: Environment;
  object_type: string;
  object_id: string;
  observed_at: string;
  deleted: boolean;
  snapshot: Record<string, unknown>;
  created_at: Date;
}): Winner => ({
  environment: row.environment,
  objectType: row.object_type,
  objectId: row.object_id,
  observedAt: Number(row.observed_at),
  deleted: row.deleted,
  snapshot: row.snapshot,
  createdAt: row.created_at,
});

const candidateOfRow = (
  row: CandidateRow,
  winnerSnapshot: Record<string, unknown> | undefined,
): Candidate => ({
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

const rowOfCandidate = (candidate: Candidate, winnerKey: string): CandidateRow => ({
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

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads winners, links and mappings for row functions. Every read asked for while the current
 * step runs is answered by one query per kind, sent once the step's synchronous work is done
 * (`setImmediate`); answers are kept for the rest of the transaction. So a row function is
 * written as plain reads, and a batch of a thousand rows still costs a handful of round trips.
 */
export class BatchedWinnerSource implements WinnerSource {
  private readonly winners = new Map<string, Promise<Winner | undefined>>();
  private readonly links = new Map<string, Promise<LinkRow[]>>();
  private readonly mappings = new Map<string, Promise<Subject | null>>();
  private readonly queued = {
    winners: new Map<string, ObjectRef & Pending<Winner | undefined>>(),
    links: new Map<string, { environment: Environment; targetId: string } & Pending<LinkRow[]>>(),
    mappings: new Map<string, { environment: Environment; customerId: string } & Pending<Subject | null>>(),
  };
  private flushScheduled = false;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: StatementRunner,
    seeded: readonly Winner[],
  ) {
    for (const winner of seeded) this.winners.set(objectKey(winner), Promise.resolve(winner));
  }

  winner(environment: Environment, objectType: string, objectId: string | null): Promise<Winner | undefined> {
    if (!objectId) return Promise.resolve(undefined);
    const key = objectKey({ environment, objectType, objectId });
    return this.remembered(this.winners, key, (pending) =>
      this.queued.winners.set(key, { environment, objectType, objectId, ...pending }),
    );
  }

  async linkedFrom(
    environment: Environment,
    targetId: string,
    link: string,
    objectType: string,
  ): Promise<string[]> {
    const key = keyOf(environment, targetId);
    const links = await this.remembered(this.links, key, (pending) =>
      this.queued.links.set(key, { environment, targetId, ...pending }),
    );
    return links
      .filter((row) => row.link === link && row.objectType === objectType)
      .map((row) => row.objectId)
      .sort();
  }

  mappedSubject(environment: Environment, customerId: string | null): Promise<Subject | null> {
    if (!customerId) return Promise.resolve(null);
    const key = keyOf(environment, customerId);
    return this.remembered(this.mappings, key, (pending) =>
      this.queued.mappings.set(key, { environment, customerId, ...pending }),
    );
  }

  private remembered<T>(cache: Map<string, Promise<T>>, key: string, enqueue: (pending: Pending<T>) => void) {
    const known = cache.get(key);
    if (known) return known;
    const answer = new Promise<T>((resolve, reject) => enqueue({ resolve, reject }));
    cache.set(key, answer);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the flush before it: reads that its answers lead to must not overlap its queries.
      setImmediate(() => {
        this.flushing = this.flushing.then(() => this.flush());
      });
    }
    return answer;
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const winners = [...this.queued.winners.values()];
    const links = [...this.queued.links.values()];
    const mappings = [...this.queued.mappings.values()];
    this.queued.winners.clear();
    this.queued.links.clear();
    this.queued.mappings.clear();
    // One after another: a pg client runs one query at a time anyway.
    await answer(winners, async () => {
      const found = new Map<string, Winner>();
      for (const row of (await this.client.query<WinnerRow>(statements.loadWinners, objectParams(winners)))
        .rows) {
        const winner = winnerOfRow(row);
        found.set(objectKey(winner), winner);
      }
      return (ref) => found.get(objectKey(ref));
    });
    await answer(links, async () => {
      const found = new Map<string, LinkRow[]>();
      const { rows } = await this.client.query(statements.linksTo, [
        links.map((ref) => ref.environment),
        links.map((ref) => ref.targetId),
      ]);
      for (const row of rows) {
        const key = keyOf(row.environment, row.target_id);
        addTo(found, key, { link: row.link, objectType: row.object_type, objectId: row.object_id });
      }
      return (ref) => found.get(keyOf(ref.environment, ref.targetId)) ?? [];
    });
    await answer(mappings, async () => {
      const found = new Map<string, Subject>();
      const { rows } = await this.client.query(statements.mappedSubjects, [
        mappings.map((ref) => ref.environment),
        mappings.map((ref) => ref.customerId),
      ]);
      for (const row of rows) {
        found.set(keyOf(row.environment, row.customer_id), {
          type: row.subject_type,
          id: row.subject_id,
        });
      }
      return (ref) => found.get(keyOf(ref.environment, ref.customerId)) ?? null;
    });
  }
}

interface LinkRow {
  link: string;
  objectType: string;
  objectId: string;
}

/** Runs one query for a group of queued reads and settles each of them from its result. */
const answer = async <Q, T>(
  queued: ReadonlyArray<Q & Pending<T>>,
  query: () => Promise<(request: Q) => T>,
): Promise<void> => {
  if (queued.length === 0) return;
  try {
    const lookup = await query();
    for (const request of queued) request.resolve(lookup(request));
  } catch (error) {
    for (const request of queued) request.reject(error);
  }
};

type WinnerRow = Parameters<typeof winnerOfRow>[0];
