import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { entriesOf } from './support/projection-harness.js';
import type { GeneratedEvent } from './support/stripe-history.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const second = 1_750_000_000;
let sequence = 0;
const event = (type: string, object: Record<string, unknown>, created = second): GeneratedEvent => {
  sequence += 1;
  return {
    id: `evt_subjects_${sequence}`,
    object: 'event',
    type,
    api_version: '2025-03-31.basil',
    created,
    livemode: false,
    data: { object: object as GeneratedEvent['data']['object'] },
  };
};

/** A completed Checkout Session pairs the subject with the customer: the mapping. */
const checkoutNaming = (customerId: string, teamId: string) =>
  event('checkout.session.completed', {
    id: `cs_${customerId}`,
    object: 'checkout.session',
    mode: 'payment',
    status: 'complete',
    customer: customerId,
    metadata: { payfold_subject_type: 'team', payfold_subject_id: teamId },
  });

const project = async (events: GeneratedEvent[]) => {
  const client = await db.pool.connect();
  try {
    await paymentsProjector.apply(client, entriesOf(events));
  } finally {
    client.release();
  }
};

describe('subjects of rows that fall back to their customer mapping', () => {
  it('a payment takes the subject of the customer its row shows: the latest charge’s', async () => {
    await project([
      checkoutNaming('cus_first_card', 'team_first'),
      checkoutNaming('cus_second_card', 'team_second'),
      // The intent names no customer; its first charge was another customer's, its latest is this one's.
      event('payment_intent.succeeded', {
        id: 'pi_two_customers',
        object: 'payment_intent',
        status: 'succeeded',
        amount: 500,
        currency: 'usd',
        customer: null,
        latest_charge: 'ch_b_latest',
        metadata: {},
      }),
      event('charge.failed', {
        id: 'ch_a_first',
        object: 'charge',
        payment_intent: 'pi_two_customers',
        customer: 'cus_first_card',
        status: 'failed',
        amount: 500,
        created: second - 60,
      }),
      event('charge.succeeded', {
        id: 'ch_b_latest',
        object: 'charge',
        payment_intent: 'pi_two_customers',
        customer: 'cus_second_card',
        status: 'succeeded',
        amount: 500,
        created: second,
      }),
    ]);
    const { rows } = await db.pool.query(
      `select customer_id, charge_id, subject_id from payments.payment_history where payment_id = 'pi_two_customers'`,
    );
    expect(rows).toEqual([
      { customer_id: 'cus_second_card', charge_id: 'ch_b_latest', subject_id: 'team_second' },
    ]);
  });

  it('a subscription whose customer comes expanded still finds the mapped subject', async () => {
    await project([
      checkoutNaming('cus_expanded', 'team_expanded'),
      event('customer.subscription.created', {
        id: 'sub_expanded_customer',
        object: 'subscription',
        customer: { id: 'cus_expanded', object: 'customer', email: 'a@example.com' },
        status: 'active',
        metadata: {},
        items: { object: 'list', has_more: false, data: [] },
      }),
    ]);
    const { rows } = await db.pool.query(
      `select customer_id, subject_type, subject_id from payments.subscriptions where subscription_id = 'sub_expanded_customer'`,
    );
    expect(rows).toEqual([
      { customer_id: 'cus_expanded', subject_type: 'team', subject_id: 'team_expanded' },
    ]);
  });
});
