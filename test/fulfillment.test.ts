import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { readmeText } from './support/readme.js';
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

/**
 * Stripe's burst for a subscription checkout by one team, with the Checkout Session delivered
 * last. Each test tells it for a team of its own, so that no test depends on another having run.
 */
const storyOf = (team: string) => {
  const subscription = {
    id: `sub_team${team}`,
    object: 'subscription',
    customer: `cus_team${team}`,
    status: 'incomplete',
    cancel_at_period_end: false,
    metadata: {},
    items: {
      object: 'list',
      has_more: false,
      data: [
        {
          id: `si_team${team}`,
          object: 'subscription_item',
          quantity: 1,
          price: { id: 'price_pro', object: 'price', product: 'prod_pro' },
          current_period_start: second,
          current_period_end: second + 2_592_000,
        },
      ],
    },
  };
  const burst = [
    event('customer.subscription.created', second, subscription),
    event('invoice.paid', second, {
      id: `in_team${team}`,
      object: 'invoice',
      customer: `cus_team${team}`,
      status: 'paid',
      amount_due: 2500,
      amount_paid: 2500,
      currency: 'usd',
      parent: { type: 'subscription_details', subscription_details: { subscription: `sub_team${team}` } },
      status_transitions: { paid_at: second },
    }),
    event(
      'customer.subscription.updated',
      second,
      { ...subscription, status: 'active' },
      { status: 'incomplete' },
    ),
    event('checkout.session.completed', second + 1, {
      id: `cs_test_team${team}`,
      object: 'checkout.session',
      mode: 'subscription',
      status: 'complete',
      payment_status: 'paid',
      customer: `cus_team${team}`,
      subscription: `sub_team${team}`,
      metadata: { payfold_subject_type: 'team', payfold_subject_id: team },
    }),
  ];
  const canceled = event(
    'customer.subscription.deleted',
    second + 100,
    { ...subscription, status: 'canceled' },
    { status: 'active' },
  );
  return { subscriptionId: subscription.id, burst, canceled };
};

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
  const entitlementOf = async (team: string) =>
    (
      await db.pool.query(
        'select team_id, subscription_id, active, current_period_end, updated_at from public.team_entitlements where team_id = $1',
        [team],
      )
    ).rows;
  const subscriptionRow = async (subscriptionId: string) =>
    (
      await db.pool.query(
        'select status, subject_type, subject_id, updated_at from payments.subscriptions where subscription_id = $1',
        [subscriptionId],
      )
    ).rows[0];

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
    const readme = readmeText();
    expect(readme).toContain(exampleSql.trim());
  });

  it('grants nothing while no event has named the team yet', async () => {
    const story = storyOf('41');
    await deliver(story.burst.slice(0, 3));
    expect(await subscriptionRow(story.subscriptionId)).toMatchObject({
      status: 'active',
      subject_id: null,
    });
    expect(await entitlementOf('41')).toEqual([]);
  });

  it('grants the team once checkout.session.completed arrives after invoice.paid', async () => {
    const story = storyOf('42');
    await deliver(story.burst.slice(0, 3));
    await deliver(story.burst.slice(3));
    expect(await entitlementOf('42')).toEqual([
      expect.objectContaining({
        team_id: '42',
        subscription_id: 'sub_team42',
        active: true,
        current_period_end: new Date((second + 2_592_000) * 1000),
      }),
    ]);
    expect(await subscriptionRow(story.subscriptionId)).toMatchObject({
      subject_type: 'team',
      subject_id: '42',
    });
  });

  it('changes nothing when Stripe redelivers the burst, or sends the same states under new event ids', async () => {
    const story = storyOf('43');
    await deliver(story.burst);
    const before = {
      entitlement: await entitlementOf('43'),
      subscription: await subscriptionRow(story.subscriptionId),
    };
    expect(before.entitlement).toHaveLength(1);
    await deliver(story.burst);
    await deliver(story.burst.map((item) => ({ ...item, id: freshEventId() })));
    expect({
      entitlement: await entitlementOf('43'),
      subscription: await subscriptionRow(story.subscriptionId),
    }).toEqual(before);
  });

  it('takes the entitlement away when the subscription is canceled', async () => {
    const story = storyOf('44');
    await deliver(story.burst);
    expect(await entitlementOf('44')).toEqual([expect.objectContaining({ team_id: '44', active: true })]);
    await deliver([story.canceled]);
    expect(await entitlementOf('44')).toEqual([expect.objectContaining({ team_id: '44', active: false })]);
  });
});
