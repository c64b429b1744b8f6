import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { openapiObjects, projectedObjectTypes } from './support/openapi-objects.js';
import { entriesOf } from './support/projection-harness.js';
import { freshEvent, loadEventFixtures } from './support/stripe-events.js';
import type { GeneratedEvent } from './support/stripe-history.js';

/** A Checkout Session event as API versions before the session's `status` sent it. */
const sessionWithoutStatus = (type: string, id: string, changes: Record<string, unknown> = {}) => {
  const fixture = loadEventFixtures().find(
    (candidate) => candidate.event.type === 'checkout.session.completed',
  );
  if (!fixture) throw new Error('no checkout.session.completed fixture');
  const event = freshEvent(fixture, { type, livemode: false, api_version: '2020-03-02' });
  const { status: _status, ...session } = event.data.object as Record<string, unknown>;
  event.data = {
    ...event.data,
    object: { ...session, id, metadata: {}, ...changes } as typeof event.data.object,
  };
  return event as unknown as GeneratedEvent;
};

describe('payloads of older API versions: fields the rows need, derived', () => {
  let db: TestDatabase;
  const project = async (events: GeneratedEvent[]) => {
    const client = await db.pool.connect();
    try {
      await paymentsProjector.apply(client, entriesOf(events));
    } finally {
      client.release();
    }
  };
  const statusOf = async (sessionId: string) =>
    (
      await db.pool.query('select status from payments.checkout_sessions where checkout_session_id = $1', [
        sessionId,
      ])
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('a Checkout Session without status delivered in checkout.session.completed is completed (payment mode)', async () => {
    await project([
      sessionWithoutStatus('checkout.session.completed', 'cs_old_payment', { mode: 'payment' }),
    ]);
    expect(await statusOf('cs_old_payment')).toEqual([{ status: 'completed' }]);
  });

  it('… and in setup mode, where nothing was paid', async () => {
    await project([
      sessionWithoutStatus('checkout.session.completed', 'cs_old_setup', {
        mode: 'setup',
        payment_status: 'no_payment_required',
        payment_intent: null,
        subscription: null,
        setup_intent: 'seti_old',
      }),
    ]);
    expect(await statusOf('cs_old_setup')).toEqual([{ status: 'completed' }]);
  });

  it('… completed after a delayed payment failed, and expired', async () => {
    await project([
      sessionWithoutStatus('checkout.session.async_payment_failed', 'cs_old_failed', {
        payment_status: 'unpaid',
      }),
      sessionWithoutStatus('checkout.session.expired', 'cs_old_expired', { payment_status: 'unpaid' }),
    ]);
    expect(await statusOf('cs_old_failed')).toEqual([{ status: 'completed' }]);
    expect(await statusOf('cs_old_expired')).toEqual([{ status: 'expired' }]);
  });

  it('never overrides a status the payload carries', async () => {
    const event = sessionWithoutStatus('checkout.session.completed', 'cs_with_status');
    (event.data.object as Record<string, unknown>).status = 'expired';
    await project([event]);
    expect(await statusOf('cs_with_status')).toEqual([{ status: 'expired' }]);
  });

  const eventOf = (type: string, object: Record<string, unknown>, created = 1_700_100_000) =>
    ({
      id: `evt_${String(object.id)}_${type}`,
      object: 'event',
      type,
      api_version: '2020-03-02',
      created,
      livemode: false,
      data: { object },
    }) as unknown as GeneratedEvent;

  it('a payment intent from before latest_charge: its charge is the newest of the embedded charges', async () => {
    const intent = {
      ...(openapiObjects.payment_intent as Record<string, unknown>),
      id: 'pi_old_charges',
      status: 'succeeded',
      amount_received: 1099,
      latest_charge: undefined,
      charges: {
        object: 'list',
        has_more: false,
        data: [
          { id: 'ch_old_first', object: 'charge', created: 1_700_000_000 },
          { id: 'ch_old_second', object: 'charge', created: 1_700_000_500 },
        ],
      },
    };
    await project([eventOf('payment_intent.succeeded', intent)]);
    const { rows } = await db.pool.query(
      'select charge_id, status from payments.payment_history where payment_intent_id = $1',
      ['pi_old_charges'],
    );
    expect(rows).toEqual([{ charge_id: 'ch_old_second', status: 'succeeded' }]);
  });

  it('a legacy plan lands as a price, its amount and interval read from the top level', async () => {
    // Plans never had `recurring` or `unit_amount`; both are left out.
    const plan: Record<string, unknown> = {
      ...(openapiObjects.plan as Record<string, unknown>),
      id: 'plan_old_monthly',
      object: 'plan',
    };
    delete plan.recurring;
    delete plan.unit_amount;
    await project([eventOf('plan.updated', plan)]);
    const { rows } = await db.pool.query(
      'select unit_amount, recurring_interval, recurring_interval_count, currency from payments.prices where price_id = $1',
      ['plan_old_monthly'],
    );
    expect(rows).toEqual([
      { unit_amount: '2000', recurring_interval: 'month', recurring_interval_count: 1, currency: 'usd' },
    ]);
  });

  it('a Checkout Session that names its customer only in customer_details', async () => {
    const session = {
      ...(openapiObjects['checkout.session'] as Record<string, unknown>),
      id: 'cs_details_only',
      customer_email: undefined,
      status: 'complete',
    };
    await project([eventOf('checkout.session.completed', session)]);
    const { rows } = await db.pool.query(
      'select customer_email from payments.checkout_sessions where checkout_session_id = $1',
      ['cs_details_only'],
    );
    expect(rows).toEqual([{ customer_email: 'example@example.com' }]);
  });

  it('a subscription item from before prices names its plan', async () => {
    const subscription = openapiObjects.subscription as Record<string, unknown> & {
      items: { data: Array<Record<string, unknown>> };
    };
    const [item] = subscription.items.data;
    const { price: _price, ...olderItem } = { ...item, id: 'si_old_plan' } as Record<string, unknown>;
    await project([
      eventOf('customer.subscription.updated', {
        ...subscription,
        id: 'sub_old_plan',
        items: { object: 'list', has_more: false, data: [olderItem] },
      }),
    ]);
    const { rows } = await db.pool.query(
      'select price_id from payments.subscription_items where subscription_item_id = $1',
      ['si_old_plan'],
    );
    expect(rows).toEqual([{ price_id: (item?.plan as { id: string } | undefined)?.id }]);
  });

  // Every object type the projections read, in the current shape (stripe/openapi's fixtures), with
  // each top-level field left out in turn, as a version from before that field would send it: the
  // object still lands (a column the field fed stays null where null is honest).
  it.each(projectedObjectTypes)(
    'a %s with any one field left out still lands',
    async (objectType, eventType) => {
      const object = openapiObjects[objectType] as Record<string, unknown>;
      const fields = Object.keys(object).filter((field) => field !== 'id' && field !== 'object');
      const events = fields.map((field, index) => {
        const { [field]: _left, ...rest } = object;
        return {
          id: `evt_${objectType.replace('.', '_')}_${index}`,
          object: 'event',
          type: eventType,
          api_version: '2020-03-02',
          created: 1_700_000_000 + index,
          livemode: false,
          data: { object: { ...rest, id: `${String(object.id)}_without_${field}` } },
        } as unknown as GeneratedEvent;
      });
      // One entry at a time, as the runner parks them: none may fail.
      const failures: string[] = [];
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        for (const [index, entry] of entriesOf(events).entries()) {
          await client.query('savepoint one');
          try {
            await paymentsProjector.apply(client, [entry]);
            await client.query('release savepoint one');
          } catch (error) {
            await client.query('rollback to savepoint one');
            failures.push(`${fields[index]}: ${(error as Error).message.slice(0, 200)}`);
          }
        }
        await client.query('commit');
      } finally {
        client.release();
      }
      expect(failures).toEqual([]);
      expect(fields.length).toBeGreaterThan(5);
    },
  );
});
