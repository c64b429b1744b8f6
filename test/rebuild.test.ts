import fc from 'fast-check';
import type pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type LogEntry, logStart, stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import type { Projector } from '../src/projections/engine/projector.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { paymentsProjectionStateTables } from '../src/projections/payments/store.js';
import { paymentsProjectionTables } from '../src/projections/payments/tables/index.js';
import { createTestDatabase } from './support/database.js';
import { readTables } from './support/projection-harness.js';
import { referenceTables, tableDifferences } from './support/reference-model.js';
import { buildHistory, historyPlanArbitrary } from './support/stripe-history.js';

const runs = Math.max(3, Math.floor(Number(process.env.FC_RUNS ?? 30) / 6));
const logger = pino({ level: 'silent' });

/** Everything the payments projection writes, as a rebuild starts from. */
const resetProjection = `
  truncate ${[...paymentsProjectionTables.map((table) => table.name), ...paymentsProjectionStateTables].join(', ')};
  update payfold.projection_checkpoints set transaction_id = '0', position = 0 where projection = 'payments';`;

/** The projector in batches only: what a rebuild must arrive at. */
const inBatches: Projector = { ...paymentsProjector, rebuild: undefined };

/** The batch projector, dying (its connection cut mid-transaction) on the given call. */
const dyingOnCall = (call: number): Projector => {
  let calls = 0;
  return {
    ...inBatches,
    async apply(client, entries) {
      await paymentsProjector.apply(client, entries);
      calls += 1;
      if (calls === call) await client.query('select pg_terminate_backend(pg_backend_pid())');
    },
  };
};

/** The rebuilding projector, its connection cut after the given chunk of its first pass. */
const rebuildDyingOnChunk = (chunk: number): Projector => ({
  ...paymentsProjector,
  rebuild(client, park) {
    const rebuild = paymentsProjector.rebuild?.(client, park);
    if (!rebuild) throw new Error('the payments projector rebuilds');
    let chunks = 0;
    return {
      ...rebuild,
      async add(entries) {
        await rebuild.add(entries);
        chunks += 1;
        if (chunks === chunk) await client.query('select pg_terminate_backend(pg_backend_pid())');
      },
    };
  },
});

/**
 * The state behind the tables that later batches read: the candidates that can still win and the
 * pairings. (`payfold.ambiguous_ties` is a diagnostic record of ties met on the way, which depends
 * on the batches.)
 */
const readState = async (client: pg.PoolClient) => ({
  candidates: (
    await client.query(
      `select environment, object_type, object_id, candidate_key, observed_at, is_winner, snapshot is null as stored_as_winner
       from payfold.stripe_object_candidates order by 1, 2, 3, 4`,
    )
  ).rows,
  links: (await client.query('select * from payfold.stripe_object_links order by 1, 2, 3, 4, 5')).rows,
  pairings: (
    await client.query(
      'select environment, subject_type, subject_id, customer_id, observed_at, recorded_at from payfold.subject_pairings order by 1, 2, 3, 4',
    )
  ).rows,
});

describe('the payments projection over the real log and runner', () => {
  it(
    'survives a crash, equals the reference model, and a rebuild from an empty checkpoint gives the same rows and state',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          historyPlanArbitrary,
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer(),
          async (plan, batchSize, rebuildBatchSize, crashOnCall, seed) => {
            const db = await createTestDatabase();
            const log = db.log;
            try {
              const { events, sessionEntries, reads } = buildHistory(plan, 'log');
              const appends = [
                ...events.map((event) =>
                  stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
                ),
                ...sessionEntries,
                ...reads,
              ];
              // Delivered shuffled, with redeliveries, several at a time (as concurrent webhooks
              // and session requests).
              const shuffled = fc.sample(
                fc.shuffledSubarray(appends, { minLength: appends.length, maxLength: appends.length }),
                {
                  seed,
                  numRuns: 1,
                },
              )[0] as typeof appends;
              const deliveries = [...shuffled, ...shuffled.filter((_, index) => index % 4 === 0)];
              for (let at = 0; at < deliveries.length; at += 8) {
                await Promise.all(deliveries.slice(at, at + 8).map((entry) => log.append(entry)));
              }

              const crashing = new ProjectionRunner({
                pool: db.pool,
                log,
                projectors: [dyingOnCall(crashOnCall)],
                logger,
                batchSize,
              });
              await crashing.catchUp().catch(() => undefined);
              const restarted = new ProjectionRunner({
                pool: db.pool,
                log,
                projectors: [inBatches],
                logger,
                batchSize,
              });
              await restarted.catchUp();

              const client = await db.pool.connect();
              try {
                const incremental = await readTables(client);
                const entries: LogEntry[] = await log.readAll(logStart, 100_000);
                expect(entries).toHaveLength(appends.length);
                expect(tableDifferences(incremental, await referenceTables(entries))).toEqual([]);

                const incrementalState = await readState(client);

                // The rebuild path (two passes over the log), in chunks of any size.
                await client.query(resetProjection);
                const rebuilt = new ProjectionRunner({
                  pool: db.pool,
                  log,
                  projectors: [paymentsProjector],
                  logger,
                  rebuildReadSize: rebuildBatchSize,
                });
                await rebuilt.catchUp();
                expect(tableDifferences(await readTables(client), incremental)).toEqual([]);
                expect(await readState(client)).toEqual(incrementalState);

                // A rebuild that dies leaves nothing behind; the batches take over and arrive at the same rows.
                await client.query(resetProjection);
                const dying = new ProjectionRunner({
                  pool: db.pool,
                  log,
                  projectors: [rebuildDyingOnChunk(1)],
                  logger,
                  rebuildReadSize: rebuildBatchSize,
                });
                await dying.catchUp();
                expect(tableDifferences(await readTables(client), incremental)).toEqual([]);
              } finally {
                client.release();
              }
            } finally {
              await db.drop();
            }
          },
        ),
        { numRuns: runs, endOnFailure: true },
      );
    },
    120_000 + runs * 5000,
  );
});
