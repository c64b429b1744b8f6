import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresEventLog } from '../src/adapters/postgres/event-log.js';
import { logStart, type NewLogEntry, stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import { createMetrics } from '../src/main/metrics.js';
import { retryParkedEntries } from '../src/projections/engine/parked.js';
import type { Projector } from '../src/projections/engine/projector.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { webhookEventsProjector } from '../src/projections/webhook-deliveries/index.js';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { freshEvent, loadEventFixtures } from './support/stripe-events.js';

const logger = pino({ level: 'silent' });

const plainEntry = (key: string, data: Record<string, unknown> = {}): NewLogEntry => ({
  environment: 'test',
  type: 'test.counted',
  version: 1,
  dedupeKey: key,
  stream: `test/${key}`,
  data: JSON.stringify({ key, ...data }),
  metadata: {},
});

/**
 * Deliberately not idempotent: it adds one per entry it sees, so an entry applied twice (or
 * skipped) shows in the total.
 */
const countingProjector = (name: string, crash = { armed: false }): Projector => ({
  name,
  version: 1,
  tables: ['public.counted'],
  entryTypes: ['test.counted'],
  async apply(client, entries) {
    await client.query(
      `insert into counted (projection, total) values ($1, $2)
       on conflict (projection) do update set total = counted.total + excluded.total`,
      [name, entries.length],
    );
    for (const { data } of entries as ReadonlyArray<{
      data: { key: string; poison?: boolean; crash?: boolean };
    }>) {
      if (data.poison) throw new Error(`cannot apply ${data.key}`);
      if (data.crash && crash.armed) {
        crash.armed = false;
        // The process "dies" after writing and before the checkpoint commits.
        await client.query('select pg_terminate_backend(pg_backend_pid())');
      }
    }
  },
});

const total = async (db: TestDatabase, projection: string): Promise<number> => {
  const { rows } = await db.pool.query<{ total: number }>('select total from counted where projection = $1', [
    projection,
  ]);
  return rows[0]?.total ?? 0;
};

describe('the projection runner', () => {
  // Each test on a log of its own, so that what one appends never shows in another's totals.
  let db: TestDatabase;
  let log: PostgresEventLog;
  const appendEntries = async (count: number) => {
    for (let index = 0; index < count; index += 1) await log.append(plainEntry(`entry-${index}`));
  };
  /** A runner whose batches start at 10 entries and grow to 40, and the size of each it applied. */
  const growingRunner = (projection: string) => {
    const sizes: number[] = [];
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [countingProjector(projection)],
      logger,
      batchSize: 10,
      maxBatchSize: 40,
      metrics: {
        batchApplied: (_name, entries) => sizes.push(entries),
        entryParked: () => undefined,
        batchFailed: () => undefined,
      },
    });
    return { runner, sizes };
  };

  beforeEach(async () => {
    db = await createTestDatabase();
    log = db.log;
    await db.pool.query('create table counted (projection text primary key, total integer not null)');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('applies each entry exactly once across batches', async () => {
    await appendEntries(250);
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [countingProjector('batches')],
      logger,
      batchSize: 7,
    });
    await runner.catchUp();
    expect(await total(db, 'batches')).toBe(250);
    await runner.catchUp();
    expect(await total(db, 'batches')).toBe(250);
  });

  it('neither skips nor repeats an entry when the connection dies between the writes and the checkpoint', async () => {
    for (let index = 0; index < 40; index += 1) await log.append(plainEntry(`e-${index}`));
    await log.append(plainEntry('dies', { crash: true }));
    for (let index = 40; index < 80; index += 1) await log.append(plainEntry(`e-${index}`));

    const crash = { armed: true };
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [countingProjector('crash', crash)],
      logger,
      batchSize: 10,
    });
    await expect(runner.catchUp()).rejects.toThrow();
    expect(crash.armed).toBe(false);
    // The batches before the one that died are in, and exactly up to the checkpoint; the dying
    // batch left no trace. (Batch boundaries depend on what other transactions hold back.)
    const counted = await total(db, 'crash');
    const checkpoint = await db.pool.query(
      "select position::int from payfold.projection_checkpoints where projection = 'crash'",
    );
    expect(counted).toBeLessThanOrEqual(40);
    expect(checkpoint.rows).toEqual([{ position: counted }]);

    // After the restart every entry counts once, the dying batch included.
    await runner.catchUp();
    expect(await total(db, 'crash')).toBe(81);
  });

  it('applies each entry once when two processes run the same projection at the same time', async () => {
    await appendEntries(250);
    const runners = Array.from(
      { length: 2 },
      () =>
        new ProjectionRunner({
          pool: db.pool,
          log,
          projectors: [countingProjector('twice')],
          logger,
          batchSize: 13,
        }),
    );
    await Promise.all(runners.map((runner) => runner.catchUp()));
    expect(await total(db, 'twice')).toBe(250);
  });

  it('reads larger batches while it is behind the log, and small ones again once it keeps up', async () => {
    await appendEntries(250);
    const { runner, sizes } = growingRunner('growing');
    await runner.catchUp();
    // Exact boundaries depend on what other transactions in the cluster hold back (a batch that
    // comes back short starts small again), so the test asserts the bounds, not the sequence.
    expect(sizes[0]).toBeLessThanOrEqual(10);
    expect(Math.max(...sizes)).toBeGreaterThan(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(40);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(250);
    for (let index = 0; index < 15; index += 1) await log.append(plainEntry(`late-${index}`));
    sizes.length = 0;
    await runner.catchUp();
    expect(sizes[0]).toBeLessThanOrEqual(10);
    expect(await total(db, 'growing')).toBe(265);
  });

  it('starts small again after a catch-up whose last batch was full', async () => {
    // 10 + 20 + 40 + 40: the catch-up ends on a full batch, then finds nothing more.
    await appendEntries(110);
    const { runner, sizes } = growingRunner('ends_full');
    await runner.catchUp();
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(110);
    for (let index = 0; index < 15; index += 1) await log.append(plainEntry(`late-${index}`));
    sizes.length = 0;
    await runner.catchUp();
    // Bounds, not the exact sequence: other transactions in the cluster can hold entries back.
    expect(sizes[0]).toBeLessThanOrEqual(10);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(15);
  });

  it('parks an entry it cannot apply, records why, and goes on with the rest', async () => {
    await appendEntries(250);
    const poisoned = await log.append(plainEntry('poisoned', { poison: true }));
    for (let index = 0; index < 5; index += 1) await log.append(plainEntry(`after-${index}`));
    const metrics = createMetrics({ headPosition: () => log.headPosition() });
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [countingProjector('parks')],
      logger,
      metrics: metrics.projections,
    });
    await runner.catchUp();
    // Every entry but the poisoned one was applied.
    expect(await total(db, 'parks')).toBe(255);
    const { rows } = await db.pool.query(
      "select position::text, entry_type, error from payfold.projection_errors where projection = 'parks'",
    );
    expect(rows).toEqual([
      {
        position: poisoned.status === 'appended' ? poisoned.position.toString() : '?',
        entry_type: 'test.counted',
        error: 'cannot apply poisoned',
      },
    ]);
    expect(await metrics.registry.getSingleMetricAsString('payfold_projection_errors_total')).toMatch(
      /payfold_projection_errors_total\{projection="parks"\} 1/,
    );
  });

  it('applies parked entries again after a fix, in log order, and they leave the parked list', async () => {
    await appendEntries(20);
    await log.append(plainEntry('buggy-1', { buggy: true }));
    await log.append(plainEntry('buggy-2', { buggy: true }));
    for (let index = 0; index < 3; index += 1) await log.append(plainEntry(`later-${index}`));
    const bug = { present: true };
    const counting = countingProjector('retried');
    const projector: Projector = {
      ...counting,
      async apply(client, entries) {
        if (bug.present && entries.some((entry) => (entry.data as { buggy?: boolean }).buggy)) {
          throw new Error('a bug in the projector');
        }
        await counting.apply(client, entries);
      },
    };
    await new ProjectionRunner({ pool: db.pool, log, projectors: [projector], logger }).catchUp();
    expect(await total(db, 'retried')).toBe(23);
    const retry = () => retryParkedEntries({ pool: db.pool, log, logger, projectors: [projector] });
    expect(await retry()).toEqual([{ projection: 'retried', retried: 2, applied: 0, stillParked: 2 }]);
    bug.present = false;
    expect(await retry()).toEqual([{ projection: 'retried', retried: 2, applied: 2, stillParked: 0 }]);
    expect(await total(db, 'retried')).toBe(25);
    expect(await countRows(db.pool, 'payfold.projection_errors')).toBe(0);
    expect(await retry()).toEqual([{ projection: 'retried', retried: 0, applied: 0, stillParked: 0 }]);
  });

  it('wakes on new entries once started, without being asked', async () => {
    await appendEntries(250);
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [countingProjector('live')],
      logger,
    });
    await runner.start();
    try {
      await eventually(async () => expect(await total(db, 'live')).toBe(250));
      await log.append(plainEntry('late'));
      await eventually(async () => expect(await total(db, 'live')).toBe(251));
    } finally {
      await runner.stop();
    }
  });
});

/**
 * A projector that can rebuild: its rebuild counts what its first pass saw and what `rescan` read
 * again, under names of their own, and refuses a poisoned entry as `apply` does.
 */
const rebuildingProjector = (name: string): Projector => ({
  ...countingProjector(name),
  rebuild(client) {
    let seen = 0;
    return {
      async add(entries) {
        for (const { data } of entries as ReadonlyArray<{ data: { key: string; poison?: boolean } }>)
          if (data.poison) throw new Error(`cannot rebuild past ${data.key}`);
        seen += entries.length;
        await client.query(
          `insert into counted (projection, total) values ($1, $2)
           on conflict (projection) do update set total = counted.total + excluded.total`,
          [name, entries.length],
        );
      },
      async finish(rescan) {
        let again = 0;
        await rescan(async (entries) => {
          again += entries.length;
        });
        await client.query('insert into counted (projection, total) values ($1, $2), ($3, $4)', [
          `${name}:first pass`,
          seen,
          `${name}:rescan`,
          again,
        ]);
      },
    };
  },
});

describe('the projection runner rebuilding from the start of the log', () => {
  let db: TestDatabase;
  let log: PostgresEventLog;
  /**
   * A rebuild reads what is readable when it starts, and batches take the rest; transactions of
   * other tests in the cluster can hold entries back for a moment, so tests wait until all are.
   */
  const untilReadable = (count: number) =>
    eventually(async () => expect(await log.readAll(logStart, count + 1)).toHaveLength(count));

  beforeEach(async () => {
    db = await createTestDatabase();
    log = db.log;
    await db.pool.query('create table counted (projection text primary key, total integer not null)');
    for (let index = 0; index < 250; index += 1) await log.append(plainEntry(`entry-${index}`));
  });
  afterEach(async () => {
    await db.drop();
  });

  it('reads the log in one transaction, hands a rescan the same entries, then goes on in batches', async () => {
    const applied: number[] = [];
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [rebuildingProjector('rebuilt')],
      logger,
      rebuildReadSize: 30,
      metrics: {
        batchApplied: (_name, entries) => applied.push(entries),
        entryParked: () => undefined,
        batchFailed: () => undefined,
      },
    });
    await untilReadable(250);
    await runner.catchUp();
    expect(await total(db, 'rebuilt')).toBe(250);
    expect(await total(db, 'rebuilt:first pass')).toBe(250);
    expect(await total(db, 'rebuilt:rescan')).toBe(250);
    expect(applied).toEqual([250]);
    const head = await log.headPosition();
    const checkpoint = await db.pool.query(
      "select position::text from payfold.projection_checkpoints where projection = 'rebuilt'",
    );
    expect(checkpoint.rows).toEqual([{ position: head.toString() }]);

    // Once built, new entries go through `apply`, and a projection past the start is never rebuilt.
    for (let index = 0; index < 15; index += 1) await log.append(plainEntry(`late-${index}`));
    await runner.catchUp();
    expect(await total(db, 'rebuilt')).toBe(265);
    expect(await total(db, 'rebuilt:first pass')).toBe(250);
  });

  it('rolls a failed rebuild back and leaves the log to batches, which park what they cannot apply', async () => {
    await log.append(plainEntry('poisoned', { poison: true }));
    for (let index = 0; index < 5; index += 1) await log.append(plainEntry(`after-${index}`));
    const runner = new ProjectionRunner({
      pool: db.pool,
      log,
      projectors: [rebuildingProjector('fallback')],
      logger,
      rebuildReadSize: 100,
    });
    await untilReadable(256);
    await runner.catchUp();
    // The rebuild's first 200 entries were rolled back with it: each entry counts once.
    expect(await total(db, 'fallback')).toBe(255);
    expect(await total(db, 'fallback:first pass')).toBe(0);
    const parked = await db.pool.query(
      "select error from payfold.projection_errors where projection = 'fallback'",
    );
    expect(parked.rows).toEqual([{ error: 'cannot apply poisoned' }]);
  });

  it('rebuilds once when two processes start on the same empty projection', async () => {
    const runners = Array.from(
      { length: 2 },
      () =>
        new ProjectionRunner({
          pool: db.pool,
          log,
          projectors: [rebuildingProjector('raced')],
          logger,
          rebuildReadSize: 40,
        }),
    );
    await untilReadable(250);
    await Promise.all(runners.map((runner) => runner.catchUp()));
    expect(await total(db, 'raced')).toBe(250);
    expect(await total(db, 'raced:first pass')).toBe(250);
  });
});

describe('payments.webhook_events', () => {
  let db: TestDatabase;
  let log: PostgresEventLog;

  beforeAll(async () => {
    db = await createTestDatabase();
    log = db.log;
  });
  afterAll(async () => {
    await db.drop();
  });

  it('writes nothing when the whole log is projected again, so triggers stay quiet on a replay', async () => {
    for (const fixture of loadEventFixtures()) {
      const event = freshEvent(fixture, { livemode: false });
      await log.append(
        stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
      );
    }
    const runner = new ProjectionRunner({ pool: db.pool, log, projectors: [webhookEventsProjector], logger });
    await runner.catchUp();
    expect(await countRows(db.pool, 'payments.webhook_events')).toBe(71);

    await db.pool.query(`
      create table trigger_fires (n integer not null);
      create function count_fire() returns trigger language plpgsql as $$
        begin insert into trigger_fires values (1); return null; end $$;
      create trigger count_fire after insert or update or delete on payments.webhook_events
        for each row execute function count_fire();
      update payfold.projection_checkpoints set transaction_id = '0', position = 0 where projection = 'webhook_events';
    `);
    await runner.catchUp();
    expect(await countRows(db.pool, 'trigger_fires')).toBe(0);
    expect(await countRows(db.pool, 'payments.webhook_events')).toBe(71);
  });
});
