import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../src/server.js';
import { expectStripeShapes } from './payload-check.js';
import { firstLine, receiver, stripeFor } from './support.js';

describe('the Stripe emulator, through the real stripe package', () => {
  let emulator: RunningEmulator;
  let stripe: Stripe;
  beforeAll(async () => {
    emulator = await startEmulator({ delivery: { firstRetryMs: 20 } });
    stripe = stripeFor(emulator);
  });
  afterAll(async () => {
    expectStripeShapes(emulator);
    await emulator.stop();
  });

  it('creates, retrieves, updates (merging metadata) and deletes customers', async () => {
    const customer = await stripe.customers.create({
      email: 'a@example.com',
      metadata: { team: '1', plan: 'pro' },
    });
    expect(customer).toMatchObject({ object: 'customer', email: 'a@example.com', livemode: false });
    expect(customer.id).toMatch(/^cus_/);
    expect(customer.lastResponse.headers.date).toBeTruthy();
    const updated = await stripe.customers.update(customer.id, { name: 'Ada', metadata: { plan: '' } });
    expect(updated).toMatchObject({ name: 'Ada', metadata: { team: '1' } });
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ name: 'Ada' });
    expect(await stripe.customers.del(customer.id)).toMatchObject({ id: customer.id, deleted: true });
  });

  it('answers Stripe errors the package turns into its error classes', async () => {
    const missing = await stripe.customers.retrieve('cus_nope').catch((error) => error);
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
    const product = await stripe.products.create({ name: 'Pro' });
    const invalid = await stripe.prices
      .create({ product: product.id } as Stripe.PriceCreateParams)
      .catch((e) => e);
    expect(invalid).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'currency' });
    const unauthorised = await new Stripe('sk_live_real', {
      host: new URL(emulator.url).hostname,
      port: Number(new URL(emulator.url).port),
      protocol: 'http',
    }).customers
      .list()
      .catch((e) => e);
    expect(unauthorised).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('keeps products with prices, and prices of both kinds', async () => {
    const product = await stripe.products.create({ name: 'Team plan', metadata: { tier: 'team' } });
    const monthly = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 2500,
      recurring: { interval: 'month' },
      lookup_key: 'team_monthly',
    });
    const once = await stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 900 });
    expect(monthly).toMatchObject({
      type: 'recurring',
      recurring: { interval: 'month', interval_count: 1 },
      unit_amount: 2500,
    });
    expect(once).toMatchObject({ type: 'one_time', recurring: null, currency: 'eur' });
    await expect(stripe.products.del(product.id)).rejects.toMatchObject({ code: 'product_has_prices' });
    expect(
      await stripe.products.update(product.id, { default_price: monthly.id, active: false }),
    ).toMatchObject({
      default_price: monthly.id,
      active: false,
    });
    expect(await stripe.prices.update(once.id, { active: false })).toMatchObject({ active: false });
  });

  it('creates Checkout Sessions in both modes, lists their line items and expires them', async () => {
    const product = await stripe.products.create({ name: 'Checkout product' });
    const monthly = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
    });
    const once = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 700 });
    const customer = await stripe.customers.create({ email: 'buyer@example.com' });
    const subscription = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: monthly.id, quantity: 2 }],
      success_url: 'https://app.example/ok',
      cancel_url: 'https://app.example/cancel',
      metadata: { payfold_subject_type: 'team', payfold_subject_id: '9' },
      subscription_data: { metadata: { payfold_subject_type: 'team', payfold_subject_id: '9' } },
    });
    expect(subscription).toMatchObject({
      object: 'checkout.session',
      mode: 'subscription',
      status: 'open',
      payment_status: 'unpaid',
      customer: customer.id,
      amount_total: 3000,
      metadata: { payfold_subject_type: 'team', payfold_subject_id: '9' },
    });
    expect(subscription.id).toMatch(/^cs_test_/);
    expect(subscription.url).toContain(subscription.id);
    const items = await stripe.checkout.sessions.listLineItems(subscription.id);
    expect(items.data).toEqual([
      expect.objectContaining({
        quantity: 2,
        amount_total: 3000,
        price: expect.objectContaining({ id: monthly.id }),
      }),
    ]);

    const payment = await stripe.checkout.sessions.create({
      mode: 'payment',
      customer_email: 'guest@example.com',
      customer_creation: 'always',
      line_items: [{ price: once.id, quantity: 1 }],
      payment_intent_data: { metadata: { payfold_subject_type: 'user', payfold_subject_id: 'u1' } },
      success_url: 'https://app.example/ok',
    });
    expect(payment).toMatchObject({
      mode: 'payment',
      customer: null,
      customer_email: 'guest@example.com',
      customer_creation: 'always',
    });
    expect((await stripe.checkout.sessions.list({ limit: 2 })).data.map((s) => s.id)).toEqual([
      payment.id,
      subscription.id,
    ]);

    const expired = await stripe.checkout.sessions.expire(payment.id);
    expect(expired.status).toBe('expired');
    await expect(stripe.checkout.sessions.expire(payment.id)).rejects.toMatchObject({ statusCode: 400 });
    const events = await stripe.events.list({ type: 'checkout.session.expired' });
    expect(events.data[0]?.data.object).toMatchObject({ id: payment.id, status: 'expired' });
    // Only `*.updated` events (and `charge.refunded`) carry previous_attributes, as with Stripe.
    expect(events.data[0]?.data.previous_attributes).toBeUndefined();

    await expect(
      stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ price: monthly.id, quantity: 1 }],
        success_url: 'https://a.example',
      }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'line_items[0][price]' });
    await expect(
      stripe.checkout.sessions.create({
        mode: 'subscription',
        customer_creation: 'always',
        line_items: [{ price: monthly.id, quantity: 1 }],
        success_url: 'https://a.example',
      }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'customer_creation' });
  });

  it('creates billing portal configurations and sessions for a customer', async () => {
    const configuration = await stripe.billingPortal.configurations.create({
      business_profile: { headline: 'Manage your plan' },
      features: { invoice_history: { enabled: true } },
      default_return_url: 'https://app.example/billing',
    });
    expect(configuration).toMatchObject({ object: 'billing_portal.configuration', active: true });
    const customer = await stripe.customers.create({ email: 'portal@example.com' });
    const session = await stripe.billingPortal.sessions.create({ customer: customer.id });
    expect(session).toMatchObject({
      object: 'billing_portal.session',
      customer: customer.id,
      return_url: 'https://app.example/billing',
    });
    expect(session.url).toMatch(/^https:\/\//);
    await expect(stripe.billingPortal.sessions.create({ customer: 'cus_missing' })).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
      param: 'customer',
    });
  });

  it('pages lists newest first so that auto-pagination walks a few hundred objects', async () => {
    const separate = await startEmulator();
    try {
      const client = stripeFor(separate);
      const created: string[] = [];
      for (let index = 0; index < 250; index += 1) {
        created.push((await client.customers.create({ email: `c${index}@example.com` })).id);
      }
      const seen: string[] = [];
      for await (const customer of client.customers.list({ limit: 100 })) seen.push(customer.id);
      expect(seen).toEqual([...created].reverse());
      const firstPage = await client.customers.list({ limit: 10 });
      expect(firstPage.has_more).toBe(true);
      const back = await client.customers.list({ limit: 5, ending_before: firstPage.data[9]?.id });
      expect(back.data.map((c) => c.id)).toEqual(firstPage.data.slice(4, 9).map((c) => c.id));
      const none = await client.customers.list({ created: { gt: Math.floor(Date.now() / 1000) + 60 } });
      expect(none.data).toEqual([]);
    } finally {
      await separate.stop();
    }
  });

  it('replays an idempotent retry and refuses the key with other parameters', async () => {
    const key = `key-${Date.now()}`;
    const first = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: key });
    const retry = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: key });
    expect(retry.id).toBe(first.id);
    expect(retry.lastResponse.headers['idempotent-replayed']).toBe('true');
    const other = await stripe.customers
      .create({ email: 'other@example.com' }, { idempotencyKey: key })
      .catch((e) => e);
    expect(other).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    const events = await stripe.events.list({ type: 'customer.created', limit: 100 });
    expect(
      events.data.filter((event) => (event.data.object as Stripe.Customer).id === first.id),
    ).toHaveLength(1);
  });

  it('emits events with previous_attributes and the request that caused them', async () => {
    const customer = await stripe.customers.create(
      { email: 'b@example.com' },
      { idempotencyKey: `ev-${Date.now()}` },
    );
    await stripe.customers.update(customer.id, { email: 'c@example.com' });
    const events = await stripe.events.list({ types: ['customer.*'], limit: 100 });
    const mine = events.data.filter((event) => (event.data.object as Stripe.Customer).id === customer.id);
    expect(mine.map((event) => event.type)).toEqual(['customer.updated', 'customer.created']);
    expect(mine[0]).toMatchObject({
      api_version: Stripe.API_VERSION,
      data: { object: { email: 'c@example.com' }, previous_attributes: { email: 'b@example.com' } },
    });
    expect(mine[1]?.request?.idempotency_key).toMatch(/^ev-/);
    expect(await stripe.events.retrieve(mine[0]?.id as string)).toMatchObject({ type: 'customer.updated' });
  });

  it('delivers events signed with the endpoint secret, retrying until a 2xx', async () => {
    const hook = await receiver([500]);
    try {
      const endpoint = await stripe.webhookEndpoints.create({
        url: hook.url,
        enabled_events: ['product.created'],
      });
      expect(endpoint.secret).toMatch(/^whsec_/);
      expect((await stripe.webhookEndpoints.retrieve(endpoint.id)).secret).toBeUndefined();
      const product = await stripe.products.create({ name: 'Signed' });
      await stripe.customers.create({ email: 'not-subscribed@example.com' });
      await emulator.settled();
      expect(hook.received).toHaveLength(2);
      for (const delivery of hook.received) {
        const event = stripe.webhooks.constructEvent(
          delivery.body,
          delivery.signature,
          endpoint.secret as string,
        );
        expect(event).toMatchObject({ type: 'product.created', data: { object: { id: product.id } } });
      }
      await stripe.webhookEndpoints.del(endpoint.id);
    } finally {
      await hook.close();
    }
  });
});

describe('the emulator with a state file', () => {
  it('finds its objects and events again after a restart', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'payfold-emulator-'));
    const stateFile = path.join(directory, 'state.json');
    const first = await startEmulator({ stateFile });
    const customer = await stripeFor(first).customers.create({ email: 'kept@example.com' });
    const endpoint = await stripeFor(first).webhookEndpoints.create({
      url: 'http://127.0.0.1:9/x',
      enabled_events: ['*'],
    });
    await first.stop();
    const second = await startEmulator({ stateFile });
    try {
      const stripe = stripeFor(second);
      expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ email: 'kept@example.com' });
      expect((await stripe.webhookEndpoints.list()).data.map((e) => e.id)).toEqual([endpoint.id]);
      expect((await stripe.events.list()).data.map((event) => event.type)).toEqual(['customer.created']);
    } finally {
      await second.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('stripe-emulator, the command', () => {
  it('serves the emulator until stopped, and says where', async () => {
    const child = spawn(process.execPath, ['emulator/bin/stripe-emulator.js', '--port', '0', '--json'], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await firstLine(child);
      const started = JSON.parse(line);
      const url = new URL(started.url);
      const stripe = new Stripe('sk_test_cli', {
        host: url.hostname,
        port: Number(url.port),
        protocol: 'http',
      });
      expect(await stripe.accounts.retrieve(null)).toMatchObject({ object: 'account' });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses a bad flag with one line and no stack trace', async () => {
    const child = spawn(process.execPath, ['emulator/bin/stripe-emulator.js', '--port', 'eighty'], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe('stripe-emulator: --port must be a port number, not eighty\n');
  });
});

describe('the billing portal before its settings are saved', () => {
  it('refuses a session, as Stripe does until a default configuration exists', async () => {
    const emulator = await startEmulator();
    try {
      const stripe = stripeFor(emulator);
      const customer = await stripe.customers.create({ email: 'early@example.com' });
      await expect(stripe.billingPortal.sessions.create({ customer: customer.id })).rejects.toMatchObject({
        statusCode: 400,
        type: 'StripeInvalidRequestError',
      });
    } finally {
      await emulator.stop();
    }
  });
});
