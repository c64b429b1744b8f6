import {
  deliveryPlanner,
  emulatorTestHelpers,
  type Faults,
  type RunningEmulator,
  runDemoStory,
  startEmulator,
} from 'payfold-stripe-emulator';
import { priceFor, receiver, stripeFor } from 'payfold-stripe-emulator/testing';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable, readDemoTables, runDemo } from '../src/main/demo.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { readTables } from './support/projection-harness.js';
import type { Tables } from './support/reference-model.js';
import { startTestServer, type TestServer, testWebhookSecret } from './support/server.js';

/** Account time of the runs: fixed, so that two runs of the story give the same rows. */
const start = Date.UTC(2031, 4, 1, 9) / 1000;

interface StoryRun {
  tables: Tables;
  demo: Awaited<ReturnType<typeof readDemoTables>>;
  disputes: Array<Record<string, unknown>>;
  /** After each step of the story, once delivered and projected: what an app would read. */
  steps: Record<
    string,
    {
      subscriptions: string[];
      invoices: string[];
      payments: string[];
      renewalCards: string[];
      teamFeatures: string[];
    }
  >;
  eventIds: string[];
  dropped: RunningEmulator['dropped'];
  deliveredEventIds: string[];
  /** Deliveries answered 2xx, duplicates included. */
  deliveries: number;
  apiFaults: RunningEmulator['injectedApiFaults'];
}

/**
 * The demo's story plus a dispute, told to a seeded emulator whose events go to a real
 * `payfold serve` over HTTP; the projected tables once every delivery is settled.
 */
const runStory = async (faults: Faults = {}, networkRetries = 0): Promise<StoryRun> => {
  const db: TestDatabase = await createTestDatabase();
  const server: TestServer = await startTestServer(db.url);
  const emulator = await startEmulator({
    forwardTo: `${server.url}/api/webhooks/stripe/test`,
    forwardSecret: testWebhookSecret,
    store: { seed: 42, now: () => start },
    faults,
    delivery: {
      firstRetryMs: 20,
      onResult: (result) => {
        if (result.status === 200) deliveries += 1;
      },
    },
  });
  let deliveries = 0;
  try {
    const stripe = stripeFor(emulator, { maxNetworkRetries: networkRetries });
    const steps: StoryRun['steps'] = {};
    const column = async (sql: string) =>
      (await db.pool.query<{ value: string }>(sql)).rows.map((row) => row.value);
    const story = await runDemoStory(stripe, {
      start,
      afterStep: async (step) => {
        await emulator.settled();
        await server.payfold.runner.catchUp();
        steps[step] = {
          subscriptions: await column('select status as value from payments.subscriptions'),
          invoices: await column('select status as value from payments.invoices order by paid_at'),
          payments: await column(
            `select type || ':' || status as value from payments.payment_history order by type, paid_at`,
          ),
          renewalCards: await column(
            `select card_brand || ' ' || card_last4 as value from payments.payment_methods
             where subscription_defaults <> '[]'`,
          ),
          teamFeatures: await column(
            `select lookup_key as value from payments.entitlements
             where subject_type = 'team' and subject_id = 'acme' order by lookup_key`,
          ),
        };
      },
    });
    const helpers = emulatorTestHelpers(stripe);
    const [payment] = (await stripe.invoicePayments.list({ limit: 100 })).data.filter(
      (candidate) => candidate.status === 'paid',
    );
    const dispute = await helpers.openDispute(payment?.payment.payment_intent as string);
    await helpers.closeDispute(dispute.id, 'lost');
    // A warning of fraud on the user's payment, and the team's VAT number, checked a moment later.
    await helpers.openEarlyFraudWarning(story.oneTimePaymentIntentId, 'made_with_stolen_card');
    const team = (await stripe.subscriptions.retrieve(story.subscriptionId)).customer as string;
    await stripe.customers.createTaxId(team, { type: 'eu_vat', value: 'DE123456789' });
    // Part of the team's first invoice credited back: refunded 1000, settled out of band 500.
    const [firstInvoice] = (await stripe.invoices.list({ customer: team, limit: 100 })).data.slice(-1);
    await stripe.creditNotes.create({
      invoice: firstInvoice?.id as string,
      refund_amount: 1000,
      out_of_band_amount: 500,
      reason: 'order_change',
    });
    expect(story.subscriptionId).toMatch(/^sub_/);
    await emulator.settled();
    await server.payfold.runner.catchUp();
    const client = await db.pool.connect();
    try {
      return {
        tables: await readTables(client),
        demo: await readDemoTables(db.pool),
        steps,
        disputes: (await db.pool.query('select status, reason, amount::int from payments.disputes')).rows,
        eventIds: emulator.store.events.map((event) => event.id),
        dropped: emulator.dropped,
        deliveries,
        apiFaults: emulator.injectedApiFaults,
        deliveredEventIds: (
          await db.pool.query<{ event_id: string }>('select event_id from payments.webhook_events')
        ).rows.map((row) => row.event_id),
      };
    } finally {
      client.release();
    }
  } finally {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  }
};

/** The tables without `created_at`: when a row was first written differs from run to run. */
const withoutWriteTimes = (tables: Tables): Tables =>
  Object.fromEntries(
    Object.entries(tables).map(([name, rows]) => [
      name,
      rows
        .map((row) => {
          const { created_at: _written, ...rest } = JSON.parse(row);
          return JSON.stringify(rest);
        })
        .sort(),
    ]),
  );

const rowsOf = (run: StoryRun, table: string) => run.demo.find((entry) => entry.table === table)?.rows ?? [];

describe('the emulator helpers, delivered to payfold serve', () => {
  let clean: StoryRun;
  beforeAll(async () => {
    clean = await runStory();
  });

  it('goes through the rows each step implies', () => {
    expect(clean.steps).toEqual({
      'catalog created': {
        subscriptions: [],
        invoices: [],
        payments: [],
        renewalCards: [],
        teamFeatures: [],
      },
      'team subscribed through Checkout': {
        subscriptions: ['active'],
        invoices: ['paid'],
        payments: ['subscription_invoice:succeeded'],
        renewalCards: ['visa 4242'],
        teamFeatures: ['priority_support', 'team_workspace'],
      },
      'user paid once, after a declined card': {
        subscriptions: ['active'],
        invoices: ['paid'],
        payments: ['one_time_payment:succeeded', 'subscription_invoice:succeeded'],
        renewalCards: ['visa 4242'],
        teamFeatures: ['priority_support', 'team_workspace'],
      },
      'a month passed: subscription renewed': {
        subscriptions: ['active'],
        invoices: ['paid', 'paid'],
        payments: [
          'one_time_payment:succeeded',
          'subscription_invoice:succeeded',
          'subscription_invoice:succeeded',
        ],
        renewalCards: ['visa 4242'],
        teamFeatures: ['priority_support', 'team_workspace'],
      },
      'team saved a new card for its renewals': {
        subscriptions: ['active'],
        invoices: ['paid', 'paid'],
        payments: [
          'one_time_payment:succeeded',
          'subscription_invoice:succeeded',
          'subscription_invoice:succeeded',
        ],
        renewalCards: ['mastercard 4444'],
        teamFeatures: ['priority_support', 'team_workspace'],
      },
      'user refunded half': {
        subscriptions: ['active'],
        invoices: ['paid', 'paid'],
        payments: [
          'one_time_payment:partially_refunded',
          'subscription_invoice:succeeded',
          'subscription_invoice:succeeded',
        ],
        renewalCards: ['mastercard 4444'],
        teamFeatures: ['priority_support', 'team_workspace'],
      },
      'team canceled at period end; the period ended': {
        subscriptions: ['canceled'],
        invoices: ['paid', 'paid'],
        payments: [
          'one_time_payment:partially_refunded',
          'subscription_invoice:succeeded',
          'subscription_invoice:succeeded',
        ],
        renewalCards: [],
        teamFeatures: [],
      },
    });
  });

  it('ends in the rows the story implies', () => {
    expect(rowsOf(clean, 'payments.subscriptions')).toMatchObject([
      { subject_type: 'team', subject_id: 'acme', status: 'canceled', cancel_at_period_end: true },
    ]);
    expect(rowsOf(clean, 'payments.subscription_items')).toMatchObject([{ quantity: '3' }]);
    expect(rowsOf(clean, 'payments.invoices').map((row) => [row.status, row.amount_paid])).toEqual([
      ['paid', '6000'],
      ['paid', '6000'],
    ]);
    expect(
      rowsOf(clean, 'payments.payment_history').map((row) => [
        row.type,
        row.status,
        row.subject_id,
        row.amount_refunded,
      ]),
    ).toEqual([
      ['one_time_payment', 'partially_refunded', 'ada', '4900'],
      // The first invoice's credit note refunded 1000 of it.
      ['subscription_invoice', 'partially_refunded', 'acme', '1000'],
      ['subscription_invoice', 'succeeded', 'acme', '0'],
    ]);
    expect(
      rowsOf(clean, 'payments.refunds')
        .map((row) => [row.amount, row.status])
        .sort(),
    ).toEqual([
      ['1000', 'succeeded'],
      ['4900', 'succeeded'],
    ]);
    expect(
      rowsOf(clean, 'payments.customer_mappings').map((row) => [row.subject_type, row.subject_id]),
    ).toEqual([
      ['team', 'acme'],
      ['user', 'ada'],
    ]);
    expect(
      rowsOf(clean, 'payments.checkout_sessions').map((row) => [row.mode, row.status, row.payment_status]),
    ).toEqual([
      ['subscription', 'completed', 'paid'],
      ['payment', 'completed', 'paid'],
    ]);
    // The team's renewals charged the Checkout card until it saved a new one; its subscription has
    // ended, so neither is charged now. A payment-mode Checkout keeps no card (Ada has none).
    expect(
      rowsOf(clean, 'payments.payment_methods').map((row) => [
        row.subject_id,
        row.card_brand,
        row.card_last4,
        row.attached,
        row.subscription_defaults,
      ]),
    ).toEqual([
      ['acme', 'mastercard', '4444', true, []],
      ['acme', 'visa', '4242', true, []],
    ]);
    expect(rowsOf(clean, 'payments.setup_intents')).toMatchObject([
      { subject_type: 'team', subject_id: 'acme', status: 'succeeded', usage: 'off_session' },
    ]);
    expect(clean.disputes).toEqual([{ status: 'lost', reason: 'fraudulent', amount: 6000 }]);
    const rowsIn = (table: string) => (clean.tables[table] ?? []).map((row) => JSON.parse(row));
    expect(rowsIn('tax_ids')).toMatchObject([
      {
        subject_type: 'team',
        subject_id: 'acme',
        type: 'eu_vat',
        country: 'DE',
        verification_status: 'verified',
      },
    ]);
    const [note] = rowsIn('credit_notes');
    expect(note).toMatchObject({
      subject_id: 'acme',
      amount: 1500,
      status: 'issued',
      type: 'post_payment',
      reason: 'order_change',
      out_of_band_amount: 500,
      refund_ids: [expect.stringMatching(/^re_/)],
    });
    expect(rowsIn('invoices').filter((invoice) => invoice.invoice_id === note.invoice_id)).toMatchObject([
      { amount_paid: 6000, amount_credited: 1500 },
    ]);
    // Partly refunded, not disputed: a refund could still head off a dispute.
    expect(rowsIn('early_fraud_warnings')).toMatchObject([
      {
        fraud_type: 'made_with_stolen_card',
        actionable: true,
        payment_intent_id: expect.stringMatching(/^pi_/),
      },
    ]);
    expect(clean.deliveredEventIds.sort()).toEqual([...clean.eventIds].sort());
  });

  it('gives identical rows when deliveries are duplicated, delayed and reordered and API calls fail', async () => {
    const faulty = await runStory(
      {
        delivery: { seed: 7, duplicate: 0.3, delay: 0.5, reorder: 0.3, maxDelayMs: 250 },
        api: {
          seed: 3,
          faults: [
            { kind: 'rate_limit', share: 0.15, retryAfterSeconds: 0 },
            { kind: 'server_error', share: 0.1, status: 503 },
          ],
        },
      },
      10,
    );
    expect(faulty.eventIds).toEqual(clean.eventIds);
    expect(faulty.deliveries).toBeGreaterThan(faulty.eventIds.length + 5);
    const kinds = faulty.apiFaults.map((fault) => fault.kind);
    expect(kinds).toContain('rate_limit');
    expect(kinds).toContain('server_error');
    expect(clean.deliveries).toBe(clean.eventIds.length);
    expect(withoutWriteTimes(faulty.tables)).toEqual(withoutWriteTimes(clean.tables));
    expect(faulty.steps).toEqual(clean.steps);
  });

  it('drops a share of deliveries, listing them, and delivers the rest', async () => {
    const lossy = await runStory({ delivery: { seed: 11, drop: 0.25 } });
    expect(lossy.dropped.length).toBeGreaterThan(0);
    const dropped = new Set(lossy.dropped.map((delivery) => delivery.eventId));
    expect(lossy.deliveredEventIds.sort()).toEqual(lossy.eventIds.filter((id) => !dropped.has(id)).sort());
  });
});

describe('the helpers emit the bursts Stripe emits', () => {
  let emulator: RunningEmulator;
  let stripe: Stripe;
  let monthly: Stripe.Price;
  let once: Stripe.Price;
  beforeAll(async () => {
    emulator = await startEmulator();
    stripe = stripeFor(emulator);
    const product = await stripe.products.create({ name: 'Bursts' });
    monthly = await priceFor(stripe, product.id, 1000);
    once = await priceFor(stripe, product.id, 2500, null);
  });
  afterAll(async () => {
    await emulator.stop();
  });

  const typesDuring = async (action: () => unknown) => {
    const before = emulator.store.events.length;
    await action();
    return emulator.store.events.slice(before).map((event) => event.type);
  };

  it('completes a subscription checkout', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id }],
    });
    const types = await typesDuring(() => emulatorTestHelpers(stripe).completeCheckoutSession(session.id));
    expect(types).toEqual([
      'customer.created',
      'payment_method.attached',
      'customer.subscription.created',
      'invoice.created',
      'payment_intent.created',
      'invoice.finalized',
      'charge.succeeded',
      'payment_intent.succeeded',
      'invoice_payment.paid',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
      'checkout.session.completed',
    ]);
    const completed = await stripe.checkout.sessions.retrieve(session.id);
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'paid' });
    expect((await stripe.subscriptions.retrieve(completed.subscription as string)).status).toBe('active');
  });

  it('leaves a declined subscription checkout open with an incomplete subscription, then completes it', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id }],
    });
    const declined = await typesDuring(() =>
      emulator.helpers.completeCheckoutSession(session.id, { paymentMethod: 'pm_card_chargeDeclined' }),
    );
    expect(declined).toEqual([
      'customer.created',
      'payment_method.attached',
      'customer.subscription.created',
      'invoice.created',
      'payment_intent.created',
      'invoice.finalized',
      'charge.failed',
      'payment_intent.payment_failed',
      'invoice.payment_failed',
    ]);
    const open = await stripe.checkout.sessions.retrieve(session.id);
    expect(open.status).toBe('open');
    expect((await stripe.subscriptions.retrieve(open.subscription as string)).status).toBe('incomplete');
    const paid = await typesDuring(() => emulator.helpers.completeCheckoutSession(session.id));
    expect(paid).toEqual([
      'payment_method.attached',
      'charge.succeeded',
      'payment_intent.succeeded',
      'invoice_payment.paid',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
      'checkout.session.completed',
    ]);
    expect((await stripe.subscriptions.retrieve(open.subscription as string)).status).toBe('active');
  });

  it('leaves a declined payment checkout open, then completes it with another card', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: once.id }],
      payment_intent_data: { metadata: { order: '7' } },
    });
    const declined = await typesDuring(() =>
      emulator.helpers.completeCheckoutSession(session.id, { paymentMethod: 'pm_card_chargeDeclined' }),
    );
    expect(declined).toEqual(['payment_intent.created', 'charge.failed', 'payment_intent.payment_failed']);
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');
    const paid = await typesDuring(() => emulator.helpers.completeCheckoutSession(session.id));
    expect(paid).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);
    const completed = await stripe.checkout.sessions.retrieve(session.id);
    expect(completed).toMatchObject({ status: 'complete', customer: null });
    const intent = await stripe.paymentIntents.retrieve(completed.payment_intent as string);
    expect(intent).toMatchObject({ status: 'succeeded', metadata: { order: '7' } });
  });

  it('refunds, opens and closes disputes through the HTTP helpers', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 4000,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const helpers = emulatorTestHelpers(stripe);
    expect(await typesDuring(() => helpers.refund(intent.id, 1000))).toEqual([
      'refund.created',
      'charge.refunded',
    ]);
    let dispute: Stripe.Dispute | undefined;
    expect(
      await typesDuring(async () => {
        dispute = await helpers.openDispute(intent.id, 'product_not_received');
      }),
    ).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    expect(dispute).toMatchObject({ status: 'needs_response', amount: 3000, reason: 'product_not_received' });
    expect(await typesDuring(() => helpers.closeDispute(dispute?.id as string, 'won'))).toEqual([
      'charge.dispute.closed',
      'charge.dispute.funds_reinstated',
    ]);
    const invalid = await helpers
      .closeDispute(dispute?.id as string, 'maybe' as 'won')
      .catch((error) => error);
    expect(invalid).toMatchObject({ statusCode: 400, param: 'outcome' });
  });
});

describe('API faults', () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator.stop();
  });

  it('answers 429 with Retry-After and 5xx on the chosen routes, and can be turned off', async () => {
    const stripe = stripeFor(emulator);
    const helpers = emulatorTestHelpers(stripe);
    await helpers.setFaults({
      api: {
        seed: 1,
        faults: [
          { kind: 'rate_limit', share: 1, route: 'GET /v1/customers', retryAfterSeconds: 2 },
          { kind: 'server_error', share: 1, route: 'POST /v1/products', status: 502 },
        ],
      },
    });
    const limited = await stripe.customers.list().catch((error) => error);
    expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(limited.headers['retry-after']).toBe('2');
    const failed = await stripe.products.create({ name: 'Never' }).catch((error) => error);
    expect(failed).toMatchObject({ statusCode: 502, type: 'StripeAPIError' });
    expect(emulator.store.collection('product').size).toBe(0);
    expect((await stripe.prices.list()).object).toBe('list');

    const invalid = await helpers
      .setFaults({ api: { seed: 1, faults: [{ kind: 'gone', share: 2 }] } } as never)
      .catch((error) => error);
    expect(invalid).toMatchObject({ statusCode: 400 });
    expect(invalid.message).toMatch(/^Invalid faults: api\.faults\.0\.kind/);
    await helpers.setFaults({});
    expect((await stripe.customers.list()).object).toBe('list');
  });

  it('slows the chosen calls down past a client timeout', async () => {
    emulator.setFaults({
      api: { seed: 2, faults: [{ kind: 'slow', share: 1, route: 'GET /v1/account', delayMs: 1500 }] },
    });
    const impatient = new Stripe('sk_test_slow', {
      host: new URL(emulator.url).hostname,
      port: Number(new URL(emulator.url).port),
      protocol: 'http',
      timeout: 500,
      maxNetworkRetries: 0,
    });
    const slow = await impatient.accounts.retrieve(null).catch((error) => error);
    expect(slow).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    emulator.setFaults({});
    expect(await impatient.accounts.retrieve(null)).toMatchObject({ object: 'account' });
  });
});

describe('delivery faults', () => {
  it('are reproducible from their seed', () => {
    const plans = (seed: number) => {
      const plan = deliveryPlanner({
        seed,
        duplicate: 0.3,
        delay: 0.5,
        reorder: 0.2,
        drop: 0.1,
        maxDelayMs: 100,
      });
      return Array.from({ length: 200 }, () => plan());
    };
    expect(plans(5)).toEqual(plans(5));
    expect(plans(5)).not.toEqual(plans(6));
    const sample = plans(5);
    expect(sample.filter((plan) => plan.dropped).length).toBeGreaterThan(5);
    expect(sample.filter((plan) => plan.delaysMs.length === 2).length).toBeGreaterThan(20);
    expect(sample.filter((plan) => plan.heldBack).length).toBeGreaterThan(10);
  });

  it('hold events back until the next one is sent, or for maxDelayMs, and still deliver each', async () => {
    const endpoint = await receiver();
    const emulator = await startEmulator({
      forwardTo: endpoint.url,
      faults: { delivery: { seed: 1, reorder: 1, maxDelayMs: 1500 } },
    });
    try {
      const stripe = stripeFor(emulator);
      for (const name of ['one', 'two', 'three']) await stripe.products.create({ name });
      const names = () => endpoint.received.map((delivery) => JSON.parse(delivery.body).data.object.name);
      // `one` waits for `two`; `three` has no follower and leaves when its hold ends.
      await eventually(async () => expect(names().sort()).toEqual(['one', 'two']), 1_000);
      expect(names()).not.toContain('three');
      await emulator.settled();
      expect(names().sort()).toEqual(['one', 'three', 'two']);
    } finally {
      await emulator.stop();
      await endpoint.close();
    }
  });
});

describe('npm run demo', () => {
  it('tells the whole story on its own embedded Postgres, never DATABASE_URL, and prints the tables', async () => {
    let output = '';
    const previous = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'postgres://nobody@127.0.0.1:1/not-the-demo';
    try {
      await runDemo((text) => {
        output += text;
      });
    } finally {
      if (previous === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = previous;
    }
    for (const table of [
      'payments.subscriptions',
      'payments.payment_history',
      'payments.refunds',
      'payments.customer_mappings',
    ]) {
      expect(output).toContain(table);
    }
    expect(output).toMatch(/sub_\w+\s+team\s+acme\s+canceled\s+true/);
    expect(output).toMatch(/one_time_payment\s+partially_refunded\s+user\s+ada\s+9900\s+4900/);
    expect(output).toContain('npx payfold serve');
    expect(formatTable([{ a: 1, long_name: null }])).toBe('a  long_name\n-  ---------\n1');
  });
});
