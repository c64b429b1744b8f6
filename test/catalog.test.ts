import type { startEmulator } from 'payfold-stripe-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from './support/database.js';
import { urlWithoutPassword } from './support/database.js';
import { adminClient, runPayfold, type TestServer } from './support/server.js';
import { startServerWithEmulator } from './support/stripe-access.js';

const adminToken = 'admin-token-for-the-catalog-tests';

describe('the catalog: Stripe first, then the log', () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: Awaited<ReturnType<typeof startEmulator>>;

  const admin = (method: string, route: string, body?: unknown) =>
    adminClient(server.url, adminToken)(method, route, body);
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql, values)).rows;

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator({
      PAYFOLD_ADMIN_TOKEN: adminToken,
    }));
    expect(
      (await admin('PUT', '/api/admin/payments/config/test', { secretKey: 'sk_test_catalog' })).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  });

  it('shows a new product and price in the tables before their webhooks, which then change no row', async () => {
    // Webhooks are held back until the tables show the API's answer.
    emulator.setFaults({ delivery: { seed: 1, delay: 1, maxDelayMs: 1500 } });
    const product = await admin('POST', '/api/admin/payments/products', {
      environment: 'test',
      name: 'Team plan',
      description: 'Seats',
    });
    expect(product.status).toBe(200);
    const price = await admin('POST', '/api/admin/payments/prices', {
      environment: 'test',
      product: product.body.object.id,
      currency: 'USD',
      unitAmount: 1200,
      interval: 'month',
    });
    expect(price.status).toBe(200);
    // Stripe's answers are in the log already, whatever the webhooks do.
    expect(
      await rows(
        `select data -> 'object' ->> 'id' as id from payfold.events
         where type = 'stripe.object.fetched' and data -> 'object' ->> 'id' = any($1) order by position`,
        [[product.body.object.id, price.body.object.id]],
      ),
    ).toEqual([{ id: product.body.object.id }, { id: price.body.object.id }]);
    await server.payfold.runner.catchUp();
    const seen = await rows(
      `select p.name, p.active, r.unit_amount, r.currency, r.updated_at
       from payments.products p join payments.prices r on r.product_id = p.product_id where p.product_id = $1`,
      [product.body.object.id],
    );
    expect(seen).toMatchObject([{ name: 'Team plan', active: true, unit_amount: '1200', currency: 'usd' }]);

    emulator.setFaults({});
    await emulator.settled();
    await server.payfold.runner.catchUp();
    // Their webhooks have come by now (on a slow run, some may have come before the read above).
    expect(
      (
        await rows('select count(*)::int as n from payments.webhook_events where object_id = any($1)', [
          [product.body.object.id, price.body.object.id],
        ])
      )[0].n,
    ).toBeGreaterThanOrEqual(2);
    expect(
      await rows(
        `select p.name, p.active, r.unit_amount, r.currency, r.updated_at
         from payments.products p join payments.prices r on r.product_id = p.product_id where p.product_id = $1`,
        [product.body.object.id],
      ),
    ).toEqual(seen);
  });

  it('updates and archives through the admin routes and the CLI, and refuses bad input in one line', async () => {
    const created = await admin('POST', '/api/admin/payments/products', {
      environment: 'test',
      name: 'Old name',
    });
    const id = created.body.object.id as string;
    expect(
      (await admin('PATCH', `/api/admin/payments/products/${id}`, { environment: 'test', name: 'New name' }))
        .status,
    ).toBe(200);
    expect(
      await admin('POST', '/api/admin/payments/prices', {
        environment: 'test',
        product: id,
        currency: 'dollars',
        unitAmount: 5,
      }),
    ).toEqual({
      status: 400,
      body: { error: { code: 'invalid_request', message: 'currency: a three-letter ISO currency code' } },
    });
    expect(
      (await admin('POST', '/api/admin/payments/products/prod_missing/archive', { environment: 'test' }))
        .status,
    ).toBe(404);

    const payfold = (args: string[]) =>
      runPayfold(args, { databaseUrl: db.url, stripeApiBase: emulator.url });
    // The test's server leads the projections: the command waits until they hold the change.
    expect(await payfold(['products', 'archive', id, '--environment', 'test'])).toEqual({
      code: 0,
      out: `archived product ${id}\ntables: up to date in ${urlWithoutPassword(db.url)} (projected by the running payfold process)`,
      err: '',
    });
    expect(
      await payfold([
        'prices',
        'create',
        '--environment',
        'test',
        '--product',
        id,
        '--currency',
        'usd',
        '--unit-amount',
        'ten',
      ]),
    ).toMatchObject({
      code: 1,
      err: 'payfold: --unit-amount: Invalid input: expected number, received NaN',
    });
    await server.payfold.runner.catchUp();
    expect(await rows('select name, active from payments.products where product_id = $1', [id])).toEqual([
      { name: 'New name', active: false },
    ]);
  }, 60_000);
});
