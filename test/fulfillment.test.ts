import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEventId, sign } from './support/stripe-events.js';

const root = path.resolve(import.meta.dirname, '..');
const exampleSql = readFileSync(path.join(root, 'examples/team-entitlements.sql'), 'utf8');

const event = (
  type: string,
  created: number,
  object: Record<string, unknown>,
  previous?: Record<string, unknown>,
) => ({
  id: freshEventId(),
  object: 'event',
  type,
  api_version: '2025-03-31.basil',
  created,
  livemode: false,
  data: { object, ...(previous ? { previous_attributes: previous } : {}) },
});

const second = 1_760_000_000;
const subscription = {
  id: 'sub_team42',
  object: 'subscription',
  customer: 'cus_team42',
  status: 'incomplete',
  cancel_at_period_end: false,
  metadata: {},
  items: {
    object: 'list',
    has_more: false,
    data: [
      {
        id: 'si_team42',
        object: 'subscription_item',
        quantity: 1,
        price: { id: 'price_pro', object: 'price', product: 'prod_pro' },
        current_period_start: second,
        current_period_end: second + 2_592_000,
      },
    ],
  },
};
/** Stripe's burst for a subscription checkout, with the Checkout Session delivered last. */
const burst = [
  event('customer.subscription.created', second, subscription),
  event('invoice.paid', second, {
    id: 'in_team42',
    object: 'invoice',
    customer: 'cus_team42',
    status: 'paid',
    amount_due: 2500,
    amount_paid: 2500,
    currency: 'usd',
    parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_team42' } },
    status_transitions: { paid_at: second },
  }),
  event(
    'customer.subscription.updated',
    second,
    { ...subscription, status: 'active' },
    { status: 'incomplete' },
  ),
  event('checkout.session.completed', second + 1, {
    id: 'cs_test_team42',
    object: 'checkout.session',
    mode: 'subscription',
    status: 'complete',
    payment_status: 'paid',
    customer: 'cus_team42',
    subscription: 'sub_team42',
    metadata: { payfold_subject_type: 'team', payfold_subject_id: '42' },
  }),
];

describe('the README fulfillment example: team entitlements kept by a trigger', () => {
  let db: TestDatabase;
  let server: TestServer;
  const deliver = async (events: ReadonlyArray<ReturnType<typeof event>>) => {
    for (const item of events) {
      const body = JSON.stringify(item);
      const response = await postWebhook(server.url, 'test', body, {
        'stripe-signature': sign(body, testWebhookSecret),
      });
      expect(response.status).toBe(200);
    }
    await server.payfold.runner.catchUp();
  };
  const entitlements = async () =>
    (
      await db.pool.query(
        'select team_id, subscription_id, active, current_period_end, updated_at from public.team_entitlements',
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(exampleSql);
    server = await startTestServer(db.url);
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('is the SQL the README shows', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(exampleSql.trim());
  });

  it('grants nothing while no event has named the team yet', async () => {
    await deliver(burst.slice(0, 3));
    const { rows } = await db.pool.query('select status, subject_id from payments.subscriptions');
    expect(rows).toEqual([{ status: 'active', subject_id: null }]);
    expect(await entitlements()).toEqual([]);
  });

  it('grants the team once checkout.session.completed arrives after invoice.paid', async () => {
    await deliver(burst.slice(3));
    expect(await entitlements()).toEqual([
      expect.objectContaining({
        team_id: '42',
        subscription_id: 'sub_team42',
        active: true,
        current_period_end: new Date((second + 2_592_000) * 1000),
      }),
    ]);
    const { rows } = await db.pool.query('select subject_type, subject_id from payments.subscriptions');
    expect(rows).toEqual([{ subject_type: 'team', subject_id: '42' }]);
  });

  it('changes nothing when Stripe redelivers the burst, or sends the same states under new event ids', async () => {
    const subscriptionUpdatedAt = async () =>
      (await db.pool.query('select updated_at from payments.subscriptions')).rows[0]?.updated_at;
    const before = { entitlements: await entitlements(), subscription: await subscriptionUpdatedAt() };
    await deliver(burst);
    await deliver(burst.map((item) => ({ ...item, id: freshEventId() })));
    expect({ entitlements: await entitlements(), subscription: await subscriptionUpdatedAt() }).toEqual(
      before,
    );
  });

  it('takes the entitlement away when the subscription is canceled', async () => {
    await deliver([
      event(
        'customer.subscription.deleted',
        second + 100,
        { ...subscription, status: 'canceled' },
        { status: 'active' },
      ),
    ]);
    expect(await entitlements()).toEqual([expect.objectContaining({ team_id: '42', active: false })]);
  });
});
