import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsProjector } from '../src/projections/payments-projector.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
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
});
