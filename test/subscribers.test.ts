import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStart, stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import { loadSubscribers } from '../src/main/subscribers-module.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { projectors } from '../src/projections/index.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
import {
  defineSubscriber,
  pruneRowChanges,
  type RowChange,
  replaySubscriber,
  type Subscriber,
  SubscriberRunner,
  switchChangeStream,
} from '../src/subscribers/index.js';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { postWebhook, runPayfold, startTestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';
import { buildHistory, historyPlanArbitrary } from './support/stripe-history.js';

const logger = pino({ level: 'silent' });

const collecting = (name: string, options: Partial<Subscriber> = {}) => {
  const received: RowChange[] = [];
  const subscriber = defineSubscriber({
    name,
    startFrom: 'beginning',
    handle: async (change) => {
      received.push(change);
    },
    ...options,
  });
  return { subscriber, received };
};

describe('subscribers: the change stream of the payments tables', () => {
  let db: TestDatabase;
  const changesAhead = async (subscriber: string) =>
    (
      await db.pool.query(
        `select count(*)::int as n from payfold.row_changes c join payfold.subscriber_checkpoints s
         on s.subscriber = $1 and (c.transaction_id, c.id) > (s.transaction_id, s.change_id)`,
        [subscriber],
      )
    ).rows[0].n as number;
  // A change is delivered once no older transaction is open anywhere on the server (so none can
  // commit before it), and other test files share the server: catch up until none is left behind.
  const deliverAll = async (subscribers: Subscriber[], options: { retries?: number } = {}) => {
    const runner = new SubscriberRunner({ pool: db.pool, logger, subscribers, retryBaseMs: 1, ...options });
    await eventually(async () => {
      await runner.catchUp();
      for (const subscriber of subscribers) expect(await changesAhead(subscriber.name)).toBe(0);
    });
  };
  const appendHistory = async (seed: number, runId: string, batchSize?: number) => {
    const [plan] = fc.sample(historyPlanArbitrary, { seed, numRuns: 1 });
    const { events } = buildHistory(plan as NonNullable<typeof plan>, runId);
    for (const event of events) {
      await db.log.append(
        stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
      );
    }
    await new ProjectionRunner({
      pool: db.pool,
      log: db.log,
      projectors,
      logger,
      batchSize,
      maxBatchSize: batchSize,
    }).catchUp();
  };
  const changeCount = async (where = 'true') =>
    (await db.pool.query(`select count(*)::int as n from payfold.row_changes where ${where}`)).rows[0]
      .n as number;

  beforeAll(async () => {
    db = await createTestDatabase();
    await appendHistory(5, 'a');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('delivers every real change once, in order, with a stable idempotency key and the log position behind it', async () => {
    const { subscriber, received } = collecting('everything');
    await deliverAll([subscriber]);
    expect(received.length).toBe(await changeCount());
    expect(received.length).toBeGreaterThan(10);
    expect(new Set(received.map((change) => change.idempotencyKey)).size).toBe(received.length);
    // In commit order: each row's changes in the order they were made.
    const lastIdOfRow = new Map<string, bigint>();
    for (const change of received) {
      const row = `${change.table} ${JSON.stringify(change.key)}`;
      const id = BigInt(change.id);
      expect(id > (lastIdOfRow.get(row) ?? -1n), row).toBe(true);
      lastIdOfRow.set(row, id);
    }
    const subscription = received.find((change) => change.table === 'payments.subscriptions');
    expect(subscription).toMatchObject({
      operation: 'insert',
      environment: 'test',
      key: { environment: 'test', subscription_id: expect.any(String) },
      logPosition: expect.any(Number),
    });
    // The durable checkpoint: delivering again gives nothing new; projecting the whole log again
    // (a replay of every webhook) changes no row, so there is nothing to deliver.
    const before = received.length;
    const client = await db.pool.connect();
    try {
      await paymentsProjector.apply(client, await db.log.readAll(logStart, 100_000));
    } finally {
      client.release();
    }
    await deliverAll([subscriber]);
    expect(received.length).toBe(before);
    expect(await changeCount()).toBe(before);
  });

  it('tells the whole story of every row: the changes, folded in order, are the tables', async () => {
    // Small batches: an object's later events update the rows its first ones inserted.
    await appendHistory(11, 'story', 3);
    // A delete too: a subscription item its subscription no longer lists.
    const { rows: items } = await db.pool.query(
      'select environment, subscription_item_id from payments.subscription_items limit 1',
    );
    expect(items.length).toBe(1);
    await db.pool.query('delete from payments.subscription_items where subscription_item_id = $1', [
      items[0].subscription_item_id,
    ]);
    const { subscriber, received } = collecting('story');
    await deliverAll([subscriber]);
    expect(new Set(received.map((change) => change.operation))).toEqual(
      new Set(['insert', 'update', 'delete']),
    );
    const folded = new Map<string, Record<string, unknown>>();
    // The winner store's changes carry its keys only: folded, they are the keys of its rows.
    const winnerKeys = new Set<string>();
    for (const change of received) {
      const row = `${change.table} ${JSON.stringify(change.key)}`;
      if (change.table === 'payments.stripe_objects') {
        expect([change.row, change.previous], row).toEqual([null, null]);
        if (change.operation === 'delete') winnerKeys.delete(JSON.stringify(change.key));
        else winnerKeys.add(JSON.stringify(change.key));
        continue;
      }
      // Each change starts from the row as the one before it left it.
      expect(change.previous ?? undefined, `${change.operation} ${row}`).toEqual(folded.get(row));
      if (change.row) folded.set(row, change.row);
      else folded.delete(row);
    }
    const { rows: winners } = await db.pool.query<{ key: Record<string, string> }>(
      "select jsonb_build_object('environment', environment, 'object_type', object_type, 'object_id', object_id) as key from payments.stripe_objects",
    );
    expect(winners.length).toBeGreaterThan(0);
    expect(winnerKeys).toEqual(new Set(winners.map(({ key }) => JSON.stringify(key))));
    const { rows: tables } = await db.pool.query<{ table_name: string }>(
      "select schemaname || '.' || tablename as table_name from pg_tables where schemaname = 'payments' and tablename <> 'stripe_objects'",
    );
    for (const { table_name } of tables) {
      const { rows } = await db.pool.query<{ row: Record<string, unknown> }>(
        `select to_jsonb(t) as row from ${table_name} t`,
      );
      const inStory = [...folded.entries()].filter(([key]) => key.startsWith(`${table_name} `));
      expect(inStory.length, table_name).toBe(rows.length);
      expect(new Set(inStory.map(([, row]) => JSON.stringify(row))), table_name).toEqual(
        new Set(rows.map(({ row }) => JSON.stringify(row))),
      );
    }
  });

  it('gives each subscriber the tables and operations it asks for', async () => {
    const { subscriber, received } = collecting('subscription-updates', {
      tables: ['payments.subscriptions'],
      operations: ['update'],
    });
    await deliverAll([subscriber]);
    expect(received.length).toBe(
      await changeCount("table_name = 'payments.subscriptions' and operation = 'update'"),
    );
    expect(received.length).toBeGreaterThan(0);
    expect(
      received.every((change) => change.table === 'payments.subscriptions' && change.operation === 'update'),
    ).toBe(true);
    // Per subscription, the changes come in the order the projection made them.
    for (const change of received) expect(change.previous).not.toBeNull();
  });

  it('retries a failing handler with backoff, then parks the change and goes on', async () => {
    let calls = 0;
    const flaky = defineSubscriber({
      name: 'flaky',
      startFrom: 'beginning',
      tables: ['payments.products'],
      handle: async () => {
        calls += 1;
        if (calls < 3) throw new Error('the mail server is down');
      },
    });
    const failing = defineSubscriber({
      name: 'always-failing',
      startFrom: 'beginning',
      tables: ['payments.products'],
      handle: async () => {
        throw new Error('no such template');
      },
    });
    await deliverAll([flaky, failing], { retries: 2 });
    const products = await changeCount("table_name = 'payments.products'");
    expect(calls).toBe(products + 2);
    const { rows } = await db.pool.query(
      'select subscriber, error, attempts from payfold.subscriber_errors order by change_id',
    );
    expect(rows).toHaveLength(products);
    expect(rows[0]).toEqual({ subscriber: 'always-failing', error: 'no such template', attempts: 3 });
  });

  it('replays from a log position or a time, with its checkpoint moved back', async () => {
    // A change names the last entry of the projection batch that made it: a later history,
    // projected on its own, has later positions.
    const head = Number(await db.log.headPosition());
    await appendHistory(13, 'r');
    const { subscriber, received } = collecting('replayed');
    await deliverAll([subscriber]);
    const all = received.length;
    const middle = received.find((change) => (change.logPosition as number) > head) as RowChange;
    const ahead = await replaySubscriber(db.pool, 'replayed', { logPosition: head + 1 });
    expect(ahead).toBeGreaterThan(0);
    expect(ahead).toBeLessThan(all);
    expect(ahead).toBe(received.filter((change) => (change.logPosition as number) > head).length);
    received.length = 0;
    await deliverAll([subscriber]);
    expect(received.length).toBe(ahead);
    expect(received.every((change) => (change.logPosition as number) >= 0)).toBe(true);
    expect(received.map((change) => change.idempotencyKey)).toContain(middle.idempotencyKey);

    expect(await replaySubscriber(db.pool, 'replayed', { time: new Date(0) })).toBe(all);
    expect(await replaySubscriber(db.pool, 'nobody', { time: new Date(0) })).toBeUndefined();
    const command = await runPayfold(
      ['--json', 'replay', '--subscriber', 'replayed', '--from', new Date(Date.now() + 60_000).toISOString()],
      { databaseUrl: db.url, stripeApiBase: 'http://127.0.0.1:9' },
    );
    expect(command.code, command.err).toBe(0);
    expect(JSON.parse(command.out)).toEqual({ subscriber: 'replayed', changesAhead: 0 });
    const unknown = await runPayfold(['replay', '--subscriber', 'nobody', '--from', '1'], {
      databaseUrl: db.url,
      stripeApiBase: 'http://127.0.0.1:9',
    });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('payfold: no subscriber called nobody has run on this database');
  });

  it('runs in the background, picking up changes as the projection makes them', async () => {
    // From now on (the default): past customers are not delivered, new ones are.
    const { subscriber, received } = collecting('live', { tables: ['payments.customers'], startFrom: 'now' });
    const past = await changeCount("table_name = 'payments.customers'");
    const runner = new SubscriberRunner({
      pool: db.pool,
      logger,
      subscribers: [subscriber],
      pollIntervalMs: 20,
    });
    await runner.start();
    try {
      await appendHistory(9, 'b');
      const deadline = Date.now() + 10_000;
      const customers = () => changeCount("table_name = 'payments.customers'");
      while (received.length < (await customers()) - past && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(past).toBeGreaterThan(0);
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBe((await customers()) - past);
    } finally {
      await runner.stop();
    }
  });

  it('runs in payfold serve from a module of the app (--subscribers), fed by webhooks', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'payfold-subscribers-'));
    const modulePath = path.join(directory, 'subscribers.mjs');
    await writeFile(
      modulePath,
      `export const subscribers = [{
        name: 'welcome-emails',
        tables: ['payments.customers'],
        operations: ['insert'],
        handle: async (change) => { globalThis.welcomed.push(change.key.customer_id); },
      }];`,
    );
    const welcomed: string[] = [];
    (globalThis as { welcomed?: string[] }).welcomed = welcomed;
    const server = await startTestServer(db.url, {}, { subscribers: await loadSubscribers(modulePath) });
    try {
      const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
      if (!fixture) throw new Error('no customer.updated fixture');
      const customerId = `cus_${randomUUID().slice(0, 12)}`;
      const event = freshEvent(fixture);
      event.data = { ...event.data, object: { ...event.data.object, id: customerId } };
      const body = JSON.stringify(event);
      const answer = await postWebhook(server.url, 'test', body, {
        'stripe-signature': sign(body, testWebhookSecret),
      });
      expect(answer.status).toBe(200);
      // A new subscriber starts from now: the customers of earlier tests are not welcomed.
      await eventually(async () => {
        expect(welcomed).toEqual([customerId]);
      });
    } finally {
      await server.payfold.close();
      await rm(directory, { recursive: true, force: true });
    }
    await expect(loadSubscribers(path.join(import.meta.dirname, 'support', 'database.ts'))).rejects.toThrow(
      'exports no subscribers',
    );
  });
});

describe('the change stream switched off, for apps that run no subscriber', () => {
  let db: TestDatabase;
  const payfold = (...args: string[]) =>
    runPayfold(['--json', ...args], { databaseUrl: db.url, stripeApiBase: 'http://127.0.0.1:9' });
  const project = async (seed: number, runId: string) => {
    const [plan] = fc.sample(historyPlanArbitrary, { seed, numRuns: 1 });
    for (const event of buildHistory(plan as NonNullable<typeof plan>, runId).events) {
      await db.log.append(
        stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
      );
    }
    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
  };
  const changeCount = async () =>
    (await db.pool.query('select count(*)::int as n from payfold.row_changes')).rows[0].n as number;
  beforeAll(async () => {
    db = await createTestDatabase();
    // An app's own fulfillment trigger, which must fire whether or not changes are captured.
    await db.pool.query(`
      create table public.welcomed (customer_id text primary key);
      create function public.welcome() returns trigger language plpgsql as $$
        begin insert into public.welcomed values (new.customer_id); return null; end $$;
      create trigger welcome after insert on payments.customers for each row execute function public.welcome();`);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('captures nothing while off, fires the app’s own triggers all the same, and refuses subscribers', async () => {
    expect(JSON.parse((await payfold('change-stream')).out)).toEqual({ changeStream: 'on' });
    const off = await payfold('change-stream', 'off');
    expect(off.code, off.err).toBe(0);
    expect(JSON.parse(off.out)).toEqual({ changeStream: 'off' });
    expect(JSON.parse((await payfold('status')).out).changeStream).toBe('off');

    await project(5, 'off');
    const customers = await countRows(db.pool, 'payments.customers');
    expect(customers).toBeGreaterThan(0);
    expect(await countRows(db.pool, 'public.welcomed')).toBe(customers);
    expect(await changeCount()).toBe(0);

    // A quiet rebuild turns user triggers off and on again: the stream stays off.
    const rebuilt = await payfold('rebuild', '--quiet');
    expect(rebuilt.code, rebuilt.err).toBe(0);
    expect(JSON.parse((await payfold('change-stream')).out)).toEqual({ changeStream: 'off' });

    const { subscriber } = collecting('too-late', { startFrom: 'beginning' });
    const refusal =
      'the change stream is off, so subscribers would receive nothing: turn it on with `payfold change-stream on`';
    await expect(
      new SubscriberRunner({ pool: db.pool, logger, subscribers: [subscriber] }).start(),
    ).rejects.toThrow(refusal);
    await expect(startTestServer(db.url, {}, { subscribers: [subscriber] })).rejects.toThrow(refusal);
    const wrong = await payfold('change-stream', 'maybe');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toBe('payfold: change-stream: on or off, not maybe');
  });

  it('captures again once turned back on, from then on', async () => {
    await switchChangeStream(db.pool, false);
    const on = await payfold('change-stream', 'on');
    expect(JSON.parse(on.out)).toEqual({ changeStream: 'on' });
    const customersBefore = await countRows(db.pool, 'payments.customers');
    await project(9, 'on');
    const { subscriber, received } = collecting('after-on', {
      startFrom: 'beginning',
      tables: ['payments.customers'],
      operations: ['insert'],
    });
    await eventually(async () => {
      await new SubscriberRunner({ pool: db.pool, logger, subscribers: [subscriber] }).catchUp();
      expect(received.length).toBe((await countRows(db.pool, 'payments.customers')) - customersBefore);
    });
    expect(received.length).toBeGreaterThan(0);
  });
});

describe('the change stream’s retention', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('prunes old changes every subscriber has delivered, keeping undelivered and parked ones', async () => {
    const ids: number[] = [];
    for (let change = 1; change <= 5; change += 1) {
      const { rows } = await db.pool.query<{ id: string }>(
        `insert into payfold.row_changes (table_name, operation, environment, row_key)
         values ('payments.customers', 'insert', 'test', jsonb_build_object('customer_id', $1::text)) returning id`,
        [`cus_${change}`],
      );
      ids.push(Number(rows[0]?.id));
    }
    const [first, second, third, fourth, fifth] = ids as [number, number, number, number, number];
    await db.pool.query(
      "update payfold.row_changes set changed_at = now() - interval '10 days' where id = any($1::bigint[])",
      [[first, second, third, fourth]],
    );
    // Subscriber `a` has delivered up to the third change, and parked the second.
    await db.pool.query(
      `insert into payfold.subscriber_checkpoints (subscriber, transaction_id, change_id)
       select 'a', transaction_id, id from payfold.row_changes where id = $1`,
      [third],
    );
    await db.pool.query(
      "insert into payfold.subscriber_errors (subscriber, change_id, error, attempts) values ('a', $1, 'failed', 5)",
      [second],
    );
    const kept = async () =>
      (await db.pool.query<{ id: string }>('select id from payfold.row_changes order by id')).rows.map(
        (row) => Number(row.id),
      );
    // One change per statement: the loop goes on until a statement prunes fewer than that.
    expect(await pruneRowChanges(db.pool, 7, 1)).toBe(2);
    expect(await kept()).toEqual([second, fourth, fifth]);
    // With no subscriber waiting, age alone decides; the parked change stays until it is dealt with.
    await db.pool.query('delete from payfold.subscriber_checkpoints');
    expect(await pruneRowChanges(db.pool, 7)).toBe(1);
    expect(await kept()).toEqual([second, fifth]);
    expect(await pruneRowChanges(db.pool, 7)).toBe(0);
  });
});
