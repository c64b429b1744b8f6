import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  liveWebhookSecret,
  postWebhook,
  startTestServer,
  type TestServer,
  testWebhookSecret,
} from './support/server.js';
import { freshEventId, loadEventFixtures, type StripeEventFixture, sign } from './support/stripe-events.js';

/** Gives every Stripe id in a payload a suffix, so that each fixture's objects are its own. */
const isolate = (value: unknown, tag: string): unknown => {
  if (typeof value === 'string') {
    return /^(prod|price|plan|cus|sub|si|in|inpay|pi|ch|py|re|dp|cs_test|cs_live)_[A-Za-z0-9]+$/.test(value)
      ? `${value}_${tag}`
      : value;
  }
  if (Array.isArray(value)) return value.map((item) => isolate(item, tag));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, isolate(item, tag)]));
  }
  return value;
};

type Json = Record<string, unknown> & { id: string };
interface Expectation {
  table: string;
  where: Record<string, unknown>;
  row: Record<string, unknown>;
}

const seconds = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000) : null);
const text = (value: unknown) => (value == null ? null : String(value));

/**
 * What each fixture must produce, read off the payload by hand (not through Payfold's own
 * mapping code). Values come from the object, whatever the event type says.
 */
const expectationsFor = (type: string, object: Json): Expectation[] => {
  // biome-ignore lint/suspicious/noExplicitAny: payloads are read here by hand, field by field
  const o = object as Record<string, any>;
  switch (o.object) {
    case 'product':
      return [
        {
          table: 'payments.products',
          where: { product_id: o.id },
          row: { name: o.name, active: o.active, deleted: type === 'product.deleted' },
        },
      ];
    case 'price':
      return [
        {
          table: 'payments.prices',
          where: { price_id: o.id },
          row: {
            product_id: o.product,
            currency: o.currency,
            unit_amount: text(o.unit_amount),
            recurring_interval: o.recurring?.interval ?? null,
            deleted: type === 'price.deleted',
          },
        },
      ];
    case 'plan':
      return o.deleted
        ? [{ table: 'payments.prices', where: { price_id: o.id }, row: { deleted: true } }]
        : [
            {
              table: 'payments.prices',
              where: { price_id: o.id },
              row: {
                unit_amount: text(o.amount),
                recurring_interval: o.interval,
                type: 'recurring',
                deleted: false,
              },
            },
          ];
    case 'customer':
      return [
        {
          table: 'payments.customers',
          where: { customer_id: o.id },
          row: o.deleted ? { deleted: true } : { email: o.email, name: o.name, deleted: false },
        },
      ];
    case 'checkout.session':
      return [
        {
          table: 'payments.checkout_sessions',
          where: { checkout_session_id: o.id },
          row: {
            mode: o.mode,
            status: 'completed',
            payment_status: o.payment_status,
            customer_id: o.customer,
            payment_intent_id: o.payment_intent,
          },
        },
      ];
    case 'subscription':
      return [
        {
          table: 'payments.subscriptions',
          where: { subscription_id: o.id },
          row: {
            customer_id: o.customer,
            status: o.status,
            current_period_end: seconds(o.current_period_end),
            cancel_at_period_end: o.cancel_at_period_end,
            canceled_at: seconds(o.canceled_at),
          },
        },
        ...o.items.data.map((item: { id: string; price: { id: string }; quantity: number }) => ({
          table: 'payments.subscription_items',
          where: { subscription_item_id: item.id },
          row: { subscription_id: o.id, price_id: item.price.id, quantity: text(item.quantity) },
        })),
      ];
    case 'invoice':
      return [
        {
          table: 'payments.invoices',
          where: { invoice_id: o.id },
          row: {
            customer_id: o.customer,
            subscription_id: o.subscription ?? null,
            status: o.status,
            amount_due: text(o.amount_due),
            amount_paid: text(o.amount_paid),
            deleted: type === 'invoice.deleted',
          },
        },
      ];
    case 'invoice_payment':
      return [
        {
          table: 'payments.payment_history',
          where: { payment_id: o.payment.payment_intent },
          row: {
            invoice_id: o.invoice,
            status: 'succeeded',
            amount: text(o.amount_requested),
            paid_at: seconds(o.status_transitions.paid_at),
            charge_id: null,
          },
        },
      ];
    case 'payment_intent':
      // Every fixture intent is `requires_payment_method` without an error, whatever its event type.
      return [
        {
          table: 'payments.payment_history',
          where: { payment_id: o.id },
          row: {
            status: 'pending',
            amount: text(o.amount),
            currency: o.currency,
            customer_id: o.customer,
            type: 'one_time_payment',
          },
        },
      ];
    case 'charge': {
      const status =
        o.amount_refunded > 0
          ? o.amount_refunded >= o.amount
            ? 'refunded'
            : 'partially_refunded'
          : o.status === 'succeeded'
            ? 'succeeded'
            : o.status === 'failed'
              ? 'failed'
              : 'pending';
      return [
        {
          table: 'payments.payment_history',
          where: { payment_id: o.payment_intent ?? o.id },
          row: {
            charge_id: o.id,
            status,
            amount: text(o.amount),
            amount_refunded: text(o.amount_refunded),
            invoice_id: o.invoice,
            paid_at: o.status === 'succeeded' ? seconds(o.created) : null,
            failed_at: status === 'failed' ? seconds(o.created) : null,
          },
        },
      ];
    }
    case 'refund':
      return [
        {
          table: 'payments.refunds',
          where: { refund_id: o.id },
          row: {
            charge_id: o.charge,
            payment_intent_id: o.payment_intent,
            amount: text(o.amount),
            status: o.status,
          },
        },
      ];
    case 'dispute':
      return [
        {
          table: 'payments.disputes',
          where: { dispute_id: o.id },
          row: { charge_id: o.charge, amount: text(o.amount), status: o.status, reason: o.reason },
        },
      ];
    default:
      // Objects no payments table is built from: their winning snapshot is all there is.
      return [];
  }
};

describe('every Stripe fixture, delivered through the webhook endpoint', () => {
  let db: TestDatabase;
  let server: TestServer;
  const delivered: Array<{ fixture: StripeEventFixture; event: Json & { type: string; livemode: boolean } }> =
    [];

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    for (const [index, fixture] of loadEventFixtures().entries()) {
      const event = isolate(
        { ...fixture.event, id: freshEventId() },
        `f${index}`,
      ) as (typeof delivered)[number]['event'];
      const body = JSON.stringify(event);
      const response = await postWebhook(server.url, event.livemode ? 'live' : 'test', body, {
        'stripe-signature': sign(body, event.livemode ? liveWebhookSecret : testWebhookSecret),
      });
      expect(response.status, fixture.file).toBe(200);
      delivered.push({ fixture, event });
    }
    await server.payfold.runner.catchUp();
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('parks none of them', async () => {
    const { rows } = await db.pool.query('select * from payfold.projection_errors');
    expect(rows).toEqual([]);
  });

  it('keeps the snapshot of every object that has an id as its winner', async () => {
    for (const { fixture, event } of delivered) {
      const object = (event.data as { object: Json }).object;
      if (typeof object.id !== 'string') continue;
      const { rows } = await db.pool.query(
        'select object_type from payments.stripe_objects where object_id = $1',
        [object.id],
      );
      expect(rows, fixture.file).toEqual([
        { object_type: object.object === 'plan' ? 'price' : object.object },
      ]);
    }
  });

  for (const fixture of loadEventFixtures()) {
    it(`${fixture.file} lands in the rows it implies`, async () => {
      const entry = delivered.find((d) => d.fixture.file === fixture.file);
      if (!entry) throw new Error('not delivered');
      const { event } = entry;
      const expectations = expectationsFor(event.type, (event.data as { object: Json }).object);
      for (const { table, where, row } of expectations) {
        const conditions = Object.keys(where).map((column, index) => `${column} = $${index + 2}`);
        const { rows } = await db.pool.query(
          `select * from ${table} where environment = $1 and ${conditions.join(' and ')}`,
          [event.livemode ? 'live' : 'test', ...Object.values(where)],
        );
        expect(rows, `${fixture.file} → ${table}`).toHaveLength(1);
        expect(rows[0], `${fixture.file} → ${table}`).toMatchObject(row);
      }
    });
  }
});
