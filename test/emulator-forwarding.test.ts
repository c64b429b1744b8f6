import { spawn } from 'node:child_process';
import { type RunningEmulator, startEmulator } from 'payfold-stripe-emulator';
import { firstLine, stripeFor } from 'payfold-stripe-emulator/testing';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/adapters/postgres/embedded.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startedByTest } from './support/processes.js';
import { startTestServer, type TestServer } from './support/server.js';

describe('the emulator forwarding to payfold serve', () => {
  const forwardSecret = 'whsec_forwarding_for_tests';
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { STRIPE_WEBHOOK_SECRET_TEST: forwardSecret });
    emulator = await startEmulator({ forwardTo: `${server.url}/api/webhooks/stripe/test`, forwardSecret });
  });
  afterAll(async () => {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  });

  it('ends in the payments rows the API calls imply', async () => {
    const stripe = stripeFor(emulator);
    const customer = await stripe.customers.create({
      email: 'team@example.com',
      metadata: { payfold_subject_type: 'team', payfold_subject_id: '7' },
    });
    const product = await stripe.products.create({ name: 'Pro' });
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 2500,
      recurring: { interval: 'month' },
    });
    await stripe.products.update(product.id, { default_price: price.id });
    await emulator.settled();
    await server.payfold.runner.catchUp();
    const customers = await db.pool.query(
      'select customer_id, email, subject_type, subject_id from payments.customers',
    );
    expect(customers.rows).toEqual([
      { customer_id: customer.id, email: 'team@example.com', subject_type: 'team', subject_id: '7' },
    ]);
    const products = await db.pool.query('select name, default_price_id from payments.products');
    expect(products.rows).toEqual([{ name: 'Pro', default_price_id: price.id }]);
    const prices = await db.pool.query('select unit_amount::int, recurring_interval from payments.prices');
    expect(prices.rows).toEqual([{ unit_amount: 2500, recurring_interval: 'month' }]);
  });
});

describe('payfold emulator', () => {
  it('serves the emulator on the given port until stopped', async () => {
    const port = await freePort();
    const args = ['emulator', '--port', String(port), '--json', '--seed', '5'];
    const forwarding = [
      '--forward-to',
      'http://127.0.0.1:9/hook',
      '--forward-secret',
      'whsec_chosen_by_the_user',
    ];
    const child = startedByTest(
      spawn(process.execPath, ['bin/payfold.js', ...args, ...forwarding], {
        cwd: new URL('..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    try {
      const line = await firstLine(child);
      const started = JSON.parse(line);
      expect(started.url).toBe(`http://127.0.0.1:${port}`);
      const stripe = new Stripe('sk_test_cli', { host: '127.0.0.1', port, protocol: 'http' });
      expect(await stripe.accounts.retrieve(null)).toMatchObject({ object: 'account' });
      expect(started.forwardSecret).toBeNull();
      expect(line).not.toContain('whsec_chosen_by_the_user');
      const seeded = await startEmulator({ store: { seed: 5 } });
      try {
        const expected = await stripeFor(seeded).customers.create({ email: 'same@example.com' });
        expect((await stripe.customers.create({ email: 'same@example.com' })).id).toBe(expected.id);
      } finally {
        await seeded.stop();
      }
    } finally {
      child.kill('SIGTERM');
    }
  });
});
