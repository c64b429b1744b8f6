import { type RunningEmulator, runDemoStory } from 'payfold-stripe-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { ReconcileReport } from '../src/app/reconcile.js';
import { projectedReading, snapshotDifferences } from '../src/domain/stripe/objects.js';
import { syncObjectKinds } from '../src/domain/sync-kinds.js';
import { eventually, type TestDatabase } from './support/database.js';
import { readmeText } from './support/readme.js';
import { adminClient, runPayfold, type TestServer } from './support/server.js';
import { emulatorStripe, startServerWithEmulator } from './support/stripe-access.js';

const adminToken = 'admin-token-for-the-reconcile-tests';

// The steps share one account: webhooks lost, a table edited, then found and repaired.
describe('reconcile: the tables against Stripe', { shuffle: false }, () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;

  const reconcile = async (dryRun: boolean): Promise<ReconcileReport> => {
    const answer = await adminClient(server.url, adminToken)('POST', '/api/admin/reconcile', {
      environment: 'test',
      dryRun,
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body.report;
  };
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql, values)).rows;

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator({
      PAYFOLD_ADMIN_TOKEN: adminToken,
      PAYFOLD_STRIPE_REQUESTS_PER_SECOND: '200',
    }));
    const connected = await adminClient(server.url, adminToken)('PUT', '/api/admin/payments/config/test', {
      secretKey: 'sk_test_reconcile',
    });
    expect(connected.status).toBe(200);
    // The account's life, with one delivery in ten lost on the way.
    emulator.setFaults({ delivery: { seed: 7, drop: 0.1 } });
    const stripe = emulatorStripe(emulator);
    const product = await stripe.products.create({ name: 'Seats' });
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
    });
    for (let index = 0; index < 40; index += 1) {
      const customer = await stripe.customers.create({ email: `c${index}@example.com` });
      if (index % 2 === 0) {
        await stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: price.id }],
          default_payment_method: 'pm_card_visa',
        });
      }
      if (index % 5 === 0) await stripe.customers.update(customer.id, { name: `Customer ${index}` });
    }
    await emulator.settled();
    emulator.setFaults({});
    await server.payfold.runner.catchUp();
  });
  afterAll(async () => {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  });

  it('finds the lost webhooks, the objects they left behind and a table edited by hand, changing nothing on a dry run', async () => {
    expect(emulator.dropped.length).toBeGreaterThan(3);
    const [edited] = await rows(
      "update payments.customers set email = 'edited@by.hand' where customer_id = (select min(customer_id) from payments.customers) returning customer_id",
    );
    const report = await reconcile(true);
    expect(report.dryRun).toBe(true);
    expect(report.repaired).toBe(false);
    expect(new Set(report.missedEvents.missing)).toEqual(
      new Set(emulator.dropped.map((delivery) => delivery.eventId)),
    );
    const customers = report.objects.find((kind) => kind.objectKind === 'customer');
    expect(customers?.listed).toBe(40);
    expect(
      report.objects.reduce((sum, kind) => sum + kind.missing.length + kind.stale.length, 0),
    ).toBeGreaterThan(0);
    expect(report.tables['payments.customers']).toMatchObject({
      differing: expect.any(Number),
      differingColumns: expect.arrayContaining(['email']),
    });
    expect(
      await rows('select email from payments.customers where customer_id = $1', [edited.customer_id]),
    ).toEqual([{ email: 'edited@by.hand' }]);
  });

  it('repairs by appending to the log and rebuilding, and a second run finds nothing', async () => {
    // A customer whose winner only an event id could pick: the repair re-fetches it from Stripe.
    const [tied] = await rows(
      `insert into payfold.ambiguous_ties (environment, object_type, object_id, observed_at)
       select environment, object_type, object_id, extract(epoch from observed_at)::bigint from payments.stripe_objects
       where object_type = 'customer' order by object_id desc limit 1
       returning object_id`,
    );
    expect((await reconcile(true)).ambiguousTies).toEqual([
      { objectType: 'customer', objectId: tied.object_id },
    ]);
    const repaired = await reconcile(false);
    expect(
      await rows(
        "select count(*)::int as n from payfold.events where type = 'stripe.object.fetched' and data -> 'object' ->> 'id' = $1",
        [tied.object_id],
      ),
    ).toEqual([{ n: 1 }]);
    expect(repaired.repaired).toBe(true);
    expect(repaired.drift).toBeGreaterThan(0);
    const again = await reconcile(true);
    expect({
      drift: again.drift,
      missedEvents: again.missedEvents.missing,
      objects: again.objects.filter(
        (kind) => kind.missing.length + kind.stale.length + kind.extra.length > 0,
      ),
      tables: again.tables,
    }).toEqual({ drift: 0, missedEvents: [], objects: [], tables: {} });
    // Every customer as Stripe has it, the hand-edited one included.
    const stripeCustomers = [...emulator.store.collection('customer').values()].map((customer) => ({
      customer_id: customer.id,
      email: customer.email,
    }));
    expect(await rows('select customer_id, email from payments.customers order by customer_id')).toEqual(
      stripeCustomers.sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1)),
    );
  });

  it('runs as `payfold reconcile`, with a readable report and --json', async () => {
    // The rate the server has (above): at test mode's default 10 requests/s a run took about 20 s.
    const options = {
      databaseUrl: db.url,
      stripeApiBase: emulator.url,
      env: { PAYFOLD_STRIPE_REQUESTS_PER_SECOND: '200' },
    };
    const text = await runPayfold(['reconcile', '--environment', 'test', '--dry-run'], options);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain('reconcile test (dry run: nothing changed): 0 differences');
    expect(text.out).toContain('missed webhooks: 0 of');
    const json = await runPayfold(['--json', 'reconcile', '--environment', 'test', '--dry-run'], options);
    expect(JSON.parse(json.out)).toMatchObject({ environment: 'test', drift: 0, dryRun: true });
    const live = await runPayfold(['reconcile', '--environment', 'live'], options);
    expect(live.code).toBe(1);
    expect(live.err).toContain('live is not connected');
  });
});

describe('reconcile after a clean run', () => {
  it('finds no drift where Stripe changed only fields no table shows, and lists them as informational', async () => {
    const rate = { PAYFOLD_STRIPE_REQUESTS_PER_SECOND: '200' };
    const { db, server, emulator } = await startServerWithEmulator({
      PAYFOLD_ADMIN_TOKEN: adminToken,
      ...rate,
    });
    const payfold = (args: string[]) =>
      runPayfold(args, { databaseUrl: db.url, stripeApiBase: emulator.url, env: rate });
    try {
      const connected = await adminClient(server.url, adminToken)('PUT', '/api/admin/payments/config/test', {
        secretKey: 'sk_test_clean',
      });
      expect(connected.status).toBe(200);
      // A new account's first sync runs in the background: the story starts once it has finished.
      await eventually(async () => {
        const { rows } = await db.pool.query(
          `select count(*)::int as finished from payfold.stripe_sync_cursors
           where environment = 'test' and finished_at is not null`,
        );
        expect(rows[0].finished).toBe(syncObjectKinds.length);
      });
      await runDemoStory(emulatorStripe(emulator), {
        afterStep: async () => {
          await emulator.settled();
          await server.payfold.runner.catchUp();
        },
      });
      // Stripe sends no event about features or which products grant them: they reach the tables by a sync.
      const synced = await payfold(['sync', '--objects', 'entitlements.feature,product_feature']);
      expect(synced.code, synced.out + synced.err).toBe(0);
      // Each invoice moved its customer's next_invoice_sequence on, and Stripe sends no event for that.
      const dryRun = await payfold(['reconcile', '--dry-run']);
      expect(dryRun.code, dryRun.out + dryRun.err).toBe(0);
      expect(dryRun.out).toMatch(/^reconcile test \(dry run: nothing changed\): 0 differences in /);
      expect(dryRun.out).toMatch(
        /^informational, not drift: 1 customer differs only in fields no table shows \(next_invoice_sequence\)$/m,
      );
      const report = JSON.parse((await payfold(['--json', 'reconcile', '--dry-run'])).out) as ReconcileReport;
      const customers = report.objects.find((kind) => kind.objectKind === 'customer');
      expect(customers?.stale).toEqual([]);
      expect(customers?.informational).toEqual([
        { id: expect.stringMatching(/^cus_/), fields: ['next_invoice_sequence'] },
      ]);
    } finally {
      await emulator.stop();
      await server.payfold.close();
      await db.drop();
    }
  });
});

describe('what reconcile counts as drift', () => {
  /** A reading's top-level fields, through the transforms and refinements around its object. */
  const fieldsOf = (schema: z.ZodType): string[] => {
    const definition = (schema as unknown as { _zod: { def: Record<string, z.ZodType | undefined> } })._zod
      .def;
    const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
    if (shape) return Object.keys(shape);
    const inner = definition.in ?? definition.innerType ?? definition.schema;
    if (!inner) throw new Error('a reading that is not an object');
    return fieldsOf(inner);
  };

  it('is the README’s table of compared fields, object by object', () => {
    const readme = readmeText();
    const documented = Object.fromEntries(
      [...readme.matchAll(/^\| `([a-z_.]+)` \| ((?:`[a-z_]+`(?:, )?)+) \|$/gm)].map(([, type, fields]) => [
        type,
        [...(fields as string).matchAll(/`([a-z_]+)`/g)].map(([, field]) => field),
      ]),
    );
    expect(documented).toEqual(
      Object.fromEntries(Object.entries(projectedReading).map(([type, schema]) => [type, fieldsOf(schema)])),
    );
  });

  it('leaves out fields no table shows, and counts the others', () => {
    const customer = { id: 'cus_1', object: 'customer', email: 'a@example.com', name: 'A', metadata: {} };
    expect(snapshotDifferences('customer', customer, { ...customer, next_invoice_sequence: 4 })).toEqual({
      projected: [],
      elsewhere: ['next_invoice_sequence'],
    });
    expect(
      snapshotDifferences('customer', customer, { ...customer, email: 'b@example.com', balance: 5 }),
    ).toEqual({
      projected: ['email'],
      elsewhere: ['balance'],
    });
  });
});
