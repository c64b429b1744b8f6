import Fastify from 'fastify';
import { type RunningEmulator, runDemoStory } from 'payfold-stripe-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../src/http/dashboard.js';
import type { TestDatabase } from './support/database.js';
import { adminClient, postWebhook, type TestServer } from './support/server.js';
import { emulatorForwardSecret, emulatorStripe, startServerWithEmulator } from './support/stripe-access.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-read-routes';

describe('the admin routes the dashboard reads', () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;
  const admin = (route: string) => adminClient(server.url, adminToken)('GET', route);

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator({
      PAYFOLD_ADMIN_TOKEN: adminToken,
    }));
    await runDemoStory(emulatorStripe(emulator), {
      afterStep: async () => {
        await emulator.settled();
        await server.payfold.runner.catchUp();
      },
    });
  });
  afterAll(async () => {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  });

  it("finds a subject's customer by subject, email, name or customer id", async () => {
    const bySubject = await admin('/api/admin/payments/customers?environment=test&search=team:acme');
    expect(bySubject.status).toBe(200);
    expect(bySubject.body.customers).toHaveLength(1);
    const customer = bySubject.body.customers[0];
    expect(customer).toMatchObject({ email: 'billing@acme.test', subject_type: 'team', subject_id: 'acme' });
    for (const search of ['ACME.test', 'acm', customer.customer_id]) {
      const found = await admin(
        `/api/admin/payments/customers?environment=test&search=${encodeURIComponent(search)}`,
      );
      expect(found.body.customers.map((row: { customer_id: string }) => row.customer_id)).toContain(
        customer.customer_id,
      );
    }
    // A pattern's wildcards are text: `%` matches no email.
    expect((await admin('/api/admin/payments/customers?environment=test&search=%25')).body.customers).toEqual(
      [],
    );
    expect(
      (await admin('/api/admin/payments/customers?environment=live&search=team:acme')).body.customers,
    ).toEqual([]);
  });

  it("answers a subject's subscriptions with items, invoices and payments; a customer's are the same", async () => {
    const subject = await admin('/api/admin/payments/subjects/team/acme?environment=test');
    expect(subject.status).toBe(200);
    const overview = subject.body.overview;
    expect(overview.customerMappings).toHaveLength(1);
    expect(overview.subscriptions).toHaveLength(1);
    expect(overview.subscriptions[0]).toMatchObject({ status: 'canceled', cancel_at_period_end: true });
    expect(overview.subscriptions[0].items.map((item: { quantity: number }) => item.quantity)).toEqual([3]);
    expect(overview.invoices.map((invoice: { amount_paid: number }) => invoice.amount_paid)).toEqual([
      6000, 6000,
    ]);
    expect(overview.paymentHistory).toHaveLength(2);
    expect(overview.refunds).toEqual([]);
    const byCustomer = await admin(
      `/api/admin/payments/customers/${overview.customerMappings[0].customer_id}?environment=test`,
    );
    expect(byCustomer.body.overview).toEqual(overview);

    const ada = (await admin('/api/admin/payments/subjects/user/ada?environment=test')).body.overview;
    expect(ada.paymentHistory).toMatchObject([
      { type: 'one_time_payment', status: 'partially_refunded', amount: 9900, amount_refunded: 4900 },
    ]);
    expect(ada.refunds).toMatchObject([{ amount: 4900, reason: 'requested_by_customer' }]);
    expect(ada.subscriptions).toEqual([]);
    const nobody = (await admin('/api/admin/payments/subjects/user/nobody?environment=test')).body.overview;
    expect(Object.values(nobody).every((rows) => Array.isArray(rows) && rows.length === 0)).toBe(true);
  });

  it('lists the catalog with prices under their product', async () => {
    const catalog = await admin('/api/admin/payments/catalog?environment=test');
    expect(catalog.status).toBe(200);
    expect(catalog.body.products).toHaveLength(1);
    const [product] = catalog.body.products;
    expect(product.name).toBe('Team plan');
    expect(
      product.prices.map((price: { unit_amount: number; recurring_interval: string | null }) => [
        price.unit_amount,
        price.recurring_interval,
      ]),
    ).toEqual(
      expect.arrayContaining([
        [2000, 'month'],
        [9900, null],
      ]),
    );
  });

  it('counts redeliveries per event and refused requests by reason', async () => {
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    if (!fixture) throw new Error('no customer.updated fixture');
    const body = JSON.stringify(freshEvent(fixture, { livemode: false }));
    const event = JSON.parse(body);
    for (let delivery = 0; delivery < 3; delivery += 1) {
      const answer = await postWebhook(server.url, 'test', body, {
        'stripe-signature': sign(body, emulatorForwardSecret),
      });
      expect(answer.status).toBe(200);
    }
    await postWebhook(server.url, 'test', body, { 'stripe-signature': 't=1,v1=bad' });
    await server.payfold.runner.catchUp();
    const activity = await admin('/api/admin/webhooks?environment=test&limit=5');
    expect(activity.status).toBe(200);
    expect(activity.body.deliveries).toHaveLength(5);
    expect(activity.body.deliveries[0]).toMatchObject({ event_id: event.id, redeliveries: 2 });
    expect(activity.body.deliveries[1].redeliveries).toBe(0);
    expect(activity.body.rejected).toEqual([{ reason: 'bad_signature', count: 1 }]);
    const minutes = activity.body.perMinute as Array<{ minute: string; events: number }>;
    const { rows } = await db.pool.query(
      "select count(*)::int as n from payments.webhook_events where environment = 'test'",
    );
    expect(minutes.reduce((sum, minute) => sum + minute.events, 0)).toBe(rows[0].n);
  });

  it('refuses a wrong token and an unknown environment', async () => {
    expect(
      (await adminClient(server.url, 'wrong')('GET', '/api/admin/payments/catalog?environment=test')).status,
    ).toBe(401);
    const unknown = await admin('/api/admin/payments/catalog?environment=prod');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_request');
    expect((await admin('/api/admin/webhooks?environment=test&limit=100000')).status).toBe(400);
  });

  it('serves the dashboard page and its assets under a strict content security policy', async () => {
    const page = await fetch(`${server.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const html = await page.text();
    const script = html.match(/src="(\/dashboard\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect((await fetch(`${server.url}/dashboard/assets/nothing.js`)).status).toBe(404);
  });
});

describe('a dashboard that was not built', () => {
  it('answers 503 with the command that builds it', async () => {
    const app = Fastify();
    await app.register(dashboardPlugin, { directory: '/nonexistent/payfold/dashboard' });
    const answer = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toEqual({
      error: {
        code: 'dashboard_not_built',
        message: 'The dashboard is not built: run npm run build:dashboard',
      },
    });
    await app.close();
  });
});
