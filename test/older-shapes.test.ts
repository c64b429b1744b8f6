import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsProjector } from '../src/projections/payments-projector.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { entriesOf } from './support/projection-harness.js';
import { fixturesDirectory, freshEvent, loadEventFixtures } from './support/stripe-events.js';
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

  // Every object type the projections read, in the current shape (stripe/openapi's fixtures), with
  // each top-level field left out in turn, as a version from before that field would send it: the
  // object still lands (a column the field fed stays null where null is honest).
  const openapiFixtures = JSON.parse(
    readFileSync(path.join(fixturesDirectory, '..', 'stripe-openapi', 'fixtures3.json'), 'utf8'),
  ).resources as Record<string, Record<string, unknown>>;
  const projected: Array<[string, string]> = [
    ['product', 'product.updated'],
    ['price', 'price.updated'],
    ['plan', 'plan.updated'],
    ['customer', 'customer.updated'],
    ['subscription', 'customer.subscription.updated'],
    ['invoice', 'invoice.updated'],
    ['payment_intent', 'payment_intent.succeeded'],
    ['charge', 'charge.succeeded'],
    ['refund', 'refund.updated'],
    ['dispute', 'charge.dispute.updated'],
    ['checkout.session', 'checkout.session.completed'],
    ['invoice_payment', 'invoice_payment.paid'],
  ];

  it.each(projected)('a %s with any one field left out still lands', async (objectType, eventType) => {
    const object = openapiFixtures[objectType] as Record<string, unknown>;
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
  });
});
