import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../src/domain/event-log.js';
import { canonicalJson } from '../src/domain/stripe/canonical.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  batchesOf,
  historyEntries,
  historyEntriesWithRepeatedReads,
  readTables,
} from './support/projection-harness.js';
import { referenceTables, tableDifferences } from './support/reference-model.js';
import { buildHistory, historyPlanArbitrary } from './support/stripe-history.js';

/** `FC_RUNS=500 npm test` for a deeper search than the default CI run. */
const runs = Number(process.env.FC_RUNS ?? 30);

const deliveryArbitrary = (count: number) =>
  fc.record({
    order: fc.shuffledSubarray(
      Array.from({ length: count }, (_, index) => index),
      { minLength: count, maxLength: count },
    ),
    duplicates: fc.array(fc.record({ entry: fc.nat(count - 1), at: fc.nat(count) }), { maxLength: 15 }),
    batchSizes: fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 6 }),
    crashAtBatch: fc.option(fc.nat(30)),
  });

/** The entries in delivery order: shuffled, some delivered again at other points. */
const deliver = (
  entries: readonly LogEntry[],
  order: number[],
  duplicates: Array<{ entry: number; at: number }>,
) => {
  const delivered = order.map((index) => entries[index] as LogEntry);
  for (const { entry, at } of duplicates)
    delivered.splice(Math.min(at, delivered.length), 0, entries[entry] as LogEntry);
  return delivered;
};

describe('convergence of the payments tables', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('the reference model finds each object in its last state, whatever the ties', async () => {
    await fc.assert(
      fc.asyncProperty(historyPlanArbitrary, async (plan) => {
        const history = buildHistory(plan, 'truth');
        const { truth, deleted } = history;
        const tables = await referenceTables(historyEntries(history));
        const winners = new Map(
          tables.stripe_objects?.map((text) => {
            const row = JSON.parse(text);
            return [`${row.object_type}:${row.object_id}`, row];
          }),
        );
        for (const [key, state] of truth) {
          expect(canonicalJson(winners.get(key)?.snapshot), key).toBe(canonicalJson(state));
          expect(winners.get(key)?.deleted ?? false, key).toBe(deleted.has(key));
        }
      }),
      { numRuns: runs * 3 },
    );
  });

  it(
    'any order, any duplicates, any batching and a crash mid-way give the reference tables, with states read twice from the API',
    async () => {
      const client = await db.pool.connect();
      try {
        await fc.assert(
          fc.asyncProperty(
            historyPlanArbitrary.chain((plan) => {
              const count = historyEntriesWithRepeatedReads(buildHistory(plan, 'x')).length;
              return fc.tuple(fc.constant(plan), deliveryArbitrary(count));
            }),
            async ([plan, delivery]) => {
              const entries = historyEntriesWithRepeatedReads(buildHistory(plan, 'run'));
              const batches = batchesOf(
                deliver(entries, delivery.order, delivery.duplicates),
                delivery.batchSizes,
              );
              await client.query('begin');
              try {
                for (const [index, batch] of batches.entries()) {
                  if (delivery.crashAtBatch === index) {
                    // The process dies inside the batch: its writes roll back with its checkpoint.
                    await client.query('savepoint crash');
                    await paymentsProjector.apply(client, batch.slice(0, Math.ceil(batch.length / 2)));
                    await client.query('rollback to savepoint crash');
                  }
                  await paymentsProjector.apply(client, batch);
                }
                expect(tableDifferences(await readTables(client), await referenceTables(entries))).toEqual(
                  [],
                );
              } finally {
                await client.query('rollback');
              }
            },
          ),
          { numRuns: runs },
        );
      } finally {
        client.release();
      }
    },
    60_000 + runs * 500,
  );

  it(
    'a duplicated delivery fires a trigger on payments.subscriptions exactly as often as a clean one',
    async () => {
      const client = await db.pool.connect();
      const fires = async (entries: readonly LogEntry[]): Promise<number> => {
        await client.query('begin');
        try {
          await client.query(`
          create temporary table subscription_changes (subscription_id text) on commit drop;
          create function pg_temp.count_subscription_change() returns trigger language plpgsql as $$
            begin insert into subscription_changes values (new.subscription_id); return null; end $$;
          create trigger count_subscription_change after insert or update on payments.subscriptions
            for each row execute function pg_temp.count_subscription_change();`);
          for (const entry of entries) await paymentsProjector.apply(client, [entry]);
          const { rows } = await client.query('select count(*)::int as n from subscription_changes');
          return rows[0].n;
        } finally {
          await client.query('rollback');
        }
      };
      try {
        await fc.assert(
          fc.asyncProperty(
            historyPlanArbitrary,
            fc.array(fc.record({ entry: fc.nat(200), at: fc.nat(200) }), { minLength: 1, maxLength: 20 }),
            async (plan, duplicates) => {
              const entries = historyEntries(buildHistory(plan, 'trg'));
              const clean = await fires(entries);
              // A redelivery comes after the first delivery (earlier would be a reordering, which
              // rightly changes which intermediate states a trigger sees).
              const duplicated = [...entries];
              for (const { entry, at } of duplicates) {
                const original = entries[entry % entries.length] as LogEntry;
                const first = duplicated.indexOf(original);
                duplicated.splice(first + 1 + (at % (duplicated.length - first)), 0, original);
              }
              expect(await fires(duplicated)).toBe(clean);
              const replayed = [...entries, ...entries];
              expect(await fires(replayed)).toBe(clean);
            },
          ),
          // Shrinking re-runs hundreds of transactions: report the first failure as found.
          { numRuns: Math.max(5, Math.floor(runs / 6)), endOnFailure: true },
        );
      } finally {
        client.release();
      }
    },
    60_000 + runs * 1000,
  );
});
