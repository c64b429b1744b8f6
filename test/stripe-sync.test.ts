import { emulatorTestHelpers, runDemoStory, startEmulator } from 'payfold-stripe-emulator';
import { pino } from 'pino';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeSyncCursorsStore } from '../src/adapters/postgres/stripe-sync-cursors.js';
import { StripeGateway } from '../src/adapters/stripe/gateway.js';
import { type SyncStripeDeps, syncStripe } from '../src/app/sync-stripe.js';
import { syncProgressReporter } from '../src/cli/sync-progress.js';
import { perCustomerKinds, syncObjectKinds } from '../src/domain/sync-kinds.js';
import type { EventLog } from '../src/ports/event-log.js';
import type { StripeGateway as StripeGatewayPort } from '../src/ports/stripe.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { projectors } from '../src/projections/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startTestServer } from './support/server.js';
import { emulatorStripe, testConnections } from './support/stripe-access.js';

const logger = pino({ level: 'silent' });

// One account's story in steps (a first sync that crashes, deletions, a re-sync): the order is the story.
describe('payfold sync against the emulator', { shuffle: false }, () => {
  let db: TestDatabase;
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  let stripe: Stripe;
  let deps: SyncStripeDeps;

  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator({ accountId: 'acct_synced' });
    stripe = emulatorStripe(emulator, 'sk_test_building_the_account');
    // An account with a story (catalog, Checkout, a renewal, a refund, a cancellation) and
    // enough customers for several pages.
    const story = await runDemoStory(stripe);
    await emulatorTestHelpers(stripe).openEarlyFraudWarning(story.oneTimePaymentIntentId);
    // A subscriber still entitled to the plan's features (the demo's team has canceled).
    const [teamMonthly] = (await stripe.prices.list({ lookup_keys: ['team_monthly'] })).data;
    const subscriber = await stripe.customers.create({
      email: 'still@subscribed.test',
      payment_method: 'pm_card_visa',
    });
    await stripe.subscriptions.create({
      customer: subscriber.id,
      items: [{ price: teamMonthly?.id as string }],
    });
    const [subscriberInvoice] = (await stripe.invoices.list({ customer: subscriber.id })).data;
    await stripe.creditNotes.create({ invoice: subscriberInvoice?.id as string, refund_amount: 500 });
    const launch = await stripe.coupons.create({
      id: 'LAUNCH',
      amount_off: 500,
      currency: 'usd',
      name: 'Launch',
    });
    const hello = await stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: launch.id },
      code: 'HELLO',
    });
    await stripe.coupons.create({ id: 'RETIRING', percent_off: 10 });
    // A second subscription of the subscriber's, with the launch coupon: $15.00 a month, not $20.00.
    await stripe.subscriptions.create({
      customer: subscriber.id,
      items: [{ price: teamMonthly?.id as string }],
      discounts: [{ coupon: launch.id }],
    });
    // A customer on a schedule: one seat for a month, then three.
    const seats = await stripe.products.create({ name: 'Seats' });
    const seat = await stripe.prices.create({
      product: seats.id,
      currency: 'usd',
      unit_amount: 700,
      recurring: { interval: 'month' },
    });
    const scheduled = await stripe.customers.create({
      email: 'scheduled@example.test',
      payment_method: 'pm_card_visa',
    });
    await stripe.subscriptionSchedules.create({
      customer: scheduled.id,
      phases: [
        { items: [{ price: seat.id, quantity: 1 }], duration: { interval: 'month', interval_count: 1 } },
        { items: [{ price: seat.id, quantity: 3 }], duration: { interval: 'month', interval_count: 2 } },
      ],
    });
    // A Checkout with the code: the session keeps it, the subscription it creates takes it off.
    const withCode = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: seat.id, quantity: 1 }],
      discounts: [{ promotion_code: hello.id }],
      success_url: 'https://app.example/done',
    });
    await emulatorTestHelpers(stripe).completeCheckoutSession(withCode.id);
    await stripe.customers.createTaxId(subscriber.id, { type: 'eu_vat', value: 'DE123456789' });
    await stripe.customers.createTaxId(subscriber.id, { type: 'us_ein', value: '12-3456789' });
    for (let index = 0; index < 230; index += 1)
      await stripe.customers.create({ email: `customer${index}@example.test`, name: `Customer ${index}` });
    await emulator.settled();
    // Payment methods are listed a customer at a time: a rate above test mode's default of 10/s.
    const gateway = new StripeGateway({
      logger,
      apiBase: emulator.url,
      requestsPerSecond: { test: 100 },
      retryBaseMs: 10,
      maxRetries: 10,
    });
    const connections = testConnections(db, gateway);
    expect(await connections.connect('test', 'sk_test_the_synced_account')).toMatchObject({ ok: true });
    deps = { connections, gateway, cursors: stripeSyncCursorsStore(db.pool), log: db.log };
  }, 120_000);
  afterAll(async () => {
    await emulator.stop();
    await db.drop();
  });

  /** Every object of a kind in the emulator, by Stripe's own list calls. */
  const all = async <T>(list: Stripe.ApiListPromise<T>): Promise<T[]> => {
    const found: T[] = [];
    for await (const item of list) found.push(item);
    return found;
  };
  const rows = async (sql: string) => (await db.pool.query(sql)).rows;
  /** The log of a process that dies as it makes its `n`-th append. */
  const dyingAtAppend = (n: number): EventLog => {
    let appends = 0;
    return {
      append: (entry) => {
        appends += 1;
        if (appends === n) return Promise.reject(new Error('the process died'));
        return db.log.append(entry);
      },
    } as Pick<EventLog, 'append'> as EventLog;
  };
  /**
   * Every customer or subscription of the account: Stripe's unfiltered lists leave out the demo's
   * test clock's, which only a list by `test_clock` shows.
   */
  const clocks = async () => all(stripe.testHelpers.testClocks.list({ limit: 100 }));
  const everyCustomer = async () => [
    ...(await all(stripe.customers.list({ limit: 100 }))),
    ...(
      await Promise.all((await clocks()).map((clock) => all(stripe.customers.list({ test_clock: clock.id }))))
    ).flat(),
  ];

  it('refuses an environment that is not connected', async () => {
    expect(await syncStripe(deps, 'live')).toEqual({
      ok: false,
      status: 409,
      message: 'live is not connected to Stripe: payfold config set live <secret key>',
    });
  });

  it('resumes after a crash under rate limits, and the tables equal the account', async () => {
    emulator.setFaults({
      api: {
        seed: 11,
        faults: [{ kind: 'rate_limit', share: 0.2, route: 'GET /v1/', retryAfterSeconds: 0 }],
      },
    });
    // The process "dies" at its fourth append: the sync stops with it.
    await expect(syncStripe({ ...deps, log: dyingAtAppend(4) }, 'test')).rejects.toThrow('the process died');
    // Every kind stopped with it: nothing goes on appending once the failure is answered.
    const pagesAppended = async () =>
      (await rows("select count(*)::int as n from payfold.events where type = 'stripe.sync.page'"))[0].n;
    const atFailure = await pagesAppended();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await pagesAppended()).toBe(atFailure);

    const resumed = await syncStripe(deps, 'test');
    emulator.setFaults({});
    expect(emulator.injectedApiFaults.length).toBeGreaterThan(0);
    if (!resumed.ok) throw new Error(resumed.message);
    expect(resumed.summary.kinds.map((kind) => kind.objectKind).sort()).toEqual([...syncObjectKinds].sort());
    expect(resumed.summary.kinds.some((kind) => kind.resumed)).toBe(true);
    const unfiltered = await all(stripe.customers.list({ limit: 100 }));
    const customers = await everyCustomer();
    expect(customers.length).toBe(unfiltered.length + 1);
    // The account's pages, then one for the test clock.
    expect(resumed.summary.kinds.find((kind) => kind.objectKind === 'customer')).toMatchObject({
      objects: customers.length,
      pages: Math.ceil(unfiltered.length / 100) + (await clocks()).length,
      done: true,
    });

    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
    expect(await rows('select customer_id, email from payments.customers order by 1')).toEqual(
      customers
        .map((customer) => ({ customer_id: customer.id, email: customer.email }))
        .sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1)),
    );
    const subscriptions = [
      ...(await all(stripe.subscriptions.list({ status: 'all', limit: 100 }))),
      ...(
        await Promise.all(
          (
            await clocks()
          ).map((clock) => all(stripe.subscriptions.list({ status: 'all', test_clock: clock.id }))),
        )
      ).flat(),
    ];
    expect(subscriptions.length).toBeGreaterThan(0);
    expect(await rows('select subscription_id, status from payments.subscriptions order by 1')).toEqual(
      subscriptions
        .map((subscription) => ({ subscription_id: subscription.id, status: subscription.status }))
        .sort((a, b) => (a.subscription_id < b.subscription_id ? -1 : 1)),
    );
    const prices = await all(stripe.prices.list({ limit: 100 }));
    expect(await rows('select price_id, active from payments.prices order by 1')).toEqual(
      prices
        .map((price) => ({ price_id: price.id, active: price.active }))
        .sort((a, b) => (a.price_id < b.price_id ? -1 : 1)),
    );
    const refunds = await all(stripe.refunds.list({ limit: 100 }));
    expect(await rows('select refund_id, status from payments.refunds order by 1')).toEqual(
      refunds
        .map((refund) => ({ refund_id: refund.id, status: refund.status }))
        .sort((a, b) => (a.refund_id < b.refund_id ? -1 : 1)),
    );
    const sessions = await all(stripe.checkout.sessions.list({ limit: 100 }));
    expect(
      await rows('select checkout_session_id, status from payments.checkout_sessions order by 1'),
    ).toEqual(
      sessions
        // The table says `completed` where Stripe says `complete` (SPEC section 4).
        .map((session) => ({
          checkout_session_id: session.id,
          status: session.status === 'complete' ? 'completed' : session.status,
        }))
        .sort((a, b) => (a.checkout_session_id < b.checkout_session_id ? -1 : 1)),
    );
    // Payment methods are listed per customer, the test clock's customers included.
    const methods = (
      await Promise.all(customers.map((customer) => all(stripe.customers.listPaymentMethods(customer.id))))
    ).flat();
    expect(methods.length).toBeGreaterThan(1);
    expect(
      await rows(
        'select payment_method_id, customer_id, card_last4 from payments.payment_methods order by 1',
      ),
    ).toEqual(
      methods
        .map((method) => ({
          payment_method_id: method.id,
          customer_id: method.customer,
          card_last4: method.card?.last4,
        }))
        .sort((a, b) => (a.payment_method_id < b.payment_method_id ? -1 : 1)),
    );
    // The catalog's features, and what each customer may use now (the demo's team has canceled).
    const features = await all(stripe.entitlements.features.list({ limit: 100 }));
    expect(await rows('select feature_id, lookup_key from payments.features order by 1')).toEqual(
      features
        .map((feature) => ({ feature_id: feature.id, lookup_key: feature.lookup_key }))
        .sort((a, b) => (a.feature_id < b.feature_id ? -1 : 1)),
    );
    // Which features each product grants: the demo's Team plan both.
    const products = await all(stripe.products.list({ limit: 100 }));
    const grants = (
      await Promise.all(
        products.map(async (product) =>
          (
            await all(stripe.products.listFeatures(product.id))
          ).map((attachment) => ({
            product_feature_id: attachment.id,
            product_id: product.id,
            lookup_key: attachment.entitlement_feature.lookup_key,
          })),
        ),
      )
    ).flat();
    expect(grants.map((grant) => grant.lookup_key).sort()).toEqual(['priority_support', 'team_workspace']);
    expect(
      await rows(
        'select product_feature_id, product_id, lookup_key from payments.product_features order by 1',
      ),
    ).toEqual(grants.sort((a, b) => (a.product_feature_id < b.product_feature_id ? -1 : 1)));
    const entitlements = (
      await Promise.all(
        customers.map(async (customer) =>
          (
            await all(stripe.entitlements.activeEntitlements.list({ customer: customer.id }))
          ).map((entitlement) => ({ customer_id: customer.id, lookup_key: entitlement.lookup_key })),
        ),
      )
    ).flat();
    expect(entitlements.map((entitlement) => entitlement.lookup_key).sort()).toEqual([
      'priority_support',
      'team_workspace',
    ]);
    expect(await rows('select customer_id, lookup_key from payments.entitlements order by 1, 2')).toEqual(
      entitlements.sort((a, b) =>
        `${a.customer_id} ${a.lookup_key}` < `${b.customer_id} ${b.lookup_key}` ? -1 : 1,
      ),
    );
    const taxIds = (
      await Promise.all(customers.map((customer) => all(stripe.customers.listTaxIds(customer.id))))
    ).flat();
    expect(taxIds.map((taxId) => taxId.type).sort()).toEqual(['eu_vat', 'us_ein']);
    expect(
      await rows('select tax_id_id, type, value, verification_status from payments.tax_ids order by 1'),
    ).toEqual(
      taxIds
        .map((taxId) => ({
          tax_id_id: taxId.id,
          type: taxId.type,
          value: taxId.value,
          verification_status: taxId.verification?.status,
        }))
        .sort((a, b) => (a.tax_id_id < b.tax_id_id ? -1 : 1)),
    );
    expect(
      await rows(
        'select coupon_id, amount_off::int, percent_off::float, deleted from payments.coupons order by 1',
      ),
    ).toEqual([
      { coupon_id: 'LAUNCH', amount_off: 500, percent_off: null, deleted: false },
      { coupon_id: 'RETIRING', amount_off: null, percent_off: 10, deleted: false },
    ]);
    expect(await rows('select code, coupon_id, active from payments.promotion_codes')).toEqual([
      { code: 'HELLO', coupon_id: 'LAUNCH', active: true },
    ]);
    const discounted = (
      await Promise.all(
        customers.map((customer) =>
          all(
            stripe.subscriptions.list({ customer: customer.id, status: 'all', expand: ['data.discounts'] }),
          ),
        ),
      )
    )
      .flat()
      .filter((subscription) => subscription.discounts.length > 0);
    // The launch coupon's own subscription, and the one the Checkout with its code created.
    expect(discounted).toHaveLength(2);
    const applied = discounted.flatMap((subscription) =>
      (subscription.discounts as Stripe.Discount[]).map((discount) => ({
        discount_id: discount.id,
        coupon_id: discount.source.coupon,
        promotion_code_id: discount.promotion_code,
        subscription_id: subscription.id,
        deleted: false,
      })),
    );
    expect(applied.map((discount) => discount.coupon_id)).toEqual(['LAUNCH', 'LAUNCH']);
    expect(
      await rows(
        'select discount_id, coupon_id, promotion_code_id, subscription_id, deleted from payments.discounts order by 1',
      ),
    ).toEqual(applied.sort((a, b) => (a.discount_id < b.discount_id ? -1 : 1)));
    for (const subscription of discounted) {
      expect(
        await rows(
          `select discount_ids from payments.subscriptions where subscription_id = '${subscription.id}'`,
        ),
      ).toEqual([
        { discount_ids: (subscription.discounts as Stripe.Discount[]).map((discount) => discount.id) },
      ]);
    }
    // $20.00 less the coupon's $5.00, and $7.00 less $5.00.
    expect(
      await rows(
        `select amount_paid::int, amount_discounted::int from payments.invoices
           where subscription_id in ('${discounted[0]?.id}', '${discounted[1]?.id}') order by 1`,
      ),
    ).toEqual([
      { amount_paid: 200, amount_discounted: 500 },
      { amount_paid: 1500, amount_discounted: 500 },
    ]);
    const schedules = await all(stripe.subscriptionSchedules.list({ limit: 100 }));
    expect(schedules).toHaveLength(1);
    expect(
      await rows(
        `select subscription_schedule_id, subscription_id, status, jsonb_path_query_array(phases, '$[*].items[*].quantity') as quantities
         from payments.subscription_schedules`,
      ),
    ).toEqual(
      schedules.map((schedule) => ({
        subscription_schedule_id: schedule.id,
        subscription_id: schedule.subscription,
        status: 'active',
        quantities: [1, 3],
      })),
    );
    expect(
      await rows(
        `select discounts, amount_discount::int from payments.checkout_sessions where discounts <> '[]'`,
      ),
    ).toEqual([
      {
        discounts: [{ coupon_id: null, promotion_code_id: expect.stringMatching(/^promo_/) }],
        amount_discount: 0,
      },
    ]);
    const creditNotes = await all(stripe.creditNotes.list({ limit: 100 }));
    expect(creditNotes).toHaveLength(1);
    expect(
      await rows('select credit_note_id, invoice_id, amount::int, refund_ids from payments.credit_notes'),
    ).toEqual(
      creditNotes.map((note) => ({
        credit_note_id: note.id,
        invoice_id: note.invoice,
        amount: note.amount,
        refund_ids: note.refunds.map((refund) => refund.refund),
      })),
    );
    expect(
      await rows(
        `select amount_credited::int from payments.invoices where invoice_id = '${creditNotes[0]?.invoice}'`,
      ),
    ).toEqual([{ amount_credited: 500 }]);
    const warnings = await all(stripe.radar.earlyFraudWarnings.list({ limit: 100 }));
    expect(warnings).toHaveLength(1);
    expect(
      await rows(
        'select early_fraud_warning_id, payment_intent_id, actionable from payments.early_fraud_warnings',
      ),
    ).toEqual(
      warnings.map((warning) => ({
        early_fraud_warning_id: warning.id,
        payment_intent_id: warning.payment_intent,
        actionable: warning.actionable,
      })),
    );
    const setupIntents = await all(stripe.setupIntents.list({ limit: 100 }));
    expect(setupIntents.length).toBeGreaterThan(0);
    expect(await rows('select setup_intent_id, status from payments.setup_intents order by 1')).toEqual(
      setupIntents
        .map((intent) => ({ setup_intent_id: intent.id, status: intent.status }))
        .sort((a, b) => (a.setup_intent_id < b.setup_intent_id ? -1 : 1)),
    );
  }, 120_000);

  it('marks deleted what Stripe no longer lists, after fetching it', async () => {
    const leaving = (await all(stripe.customers.list({ limit: 100 })))[0] as Stripe.Customer;
    const retired = await stripe.products.create({ name: 'Retired' });
    expect(await syncStripe(deps, 'test', ['product'])).toMatchObject({ ok: true });
    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
    await stripe.customers.del(leaving.id);
    await stripe.products.del(retired.id);
    const [removedTaxId] = (await all(stripe.taxIds.list({ limit: 100 }))).filter(
      (taxId) => taxId.type === 'us_ein',
    );
    await stripe.taxIds.del(removedTaxId?.id as string);
    await stripe.coupons.del('RETIRING');
    const [withDiscount] = (await all(stripe.subscriptions.list({ status: 'all', limit: 100 }))).filter(
      (subscription) => subscription.discounts.length > 0,
    );
    const removedDiscount = withDiscount?.discounts[0] as string;
    await stripe.subscriptions.update(withDiscount?.id as string, { discounts: '' });

    const synced = await syncStripe(deps, 'test', ['customer', 'product', 'tax_id', 'coupon', 'discount']);
    expect(synced).toMatchObject({
      ok: true,
      summary: {
        kinds: [
          { objectKind: 'customer', deleted: 1 },
          { objectKind: 'product', deleted: 1 },
          { objectKind: 'tax_id', deleted: 1 },
          { objectKind: 'coupon', deleted: 1 },
          { objectKind: 'discount', deleted: 1 },
        ],
      },
    });
    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
    expect(
      await rows(`select email, deleted from payments.customers where customer_id = '${leaving.id}'`),
    ).toEqual([{ email: leaving.email, deleted: true }]);
    expect(
      await rows(`select name, deleted from payments.products where product_id = '${retired.id}'`),
    ).toEqual([{ name: 'Retired', deleted: true }]);
    expect(
      await rows(`select deleted from payments.tax_ids where tax_id_id = '${removedTaxId?.id}'`),
    ).toEqual([{ deleted: true }]);
    expect(await rows(`select valid, deleted from payments.coupons where coupon_id = 'RETIRING'`)).toEqual([
      { valid: false, deleted: true },
    ]);
    expect(
      await rows(`select deleted from payments.discounts where discount_id = '${removedDiscount}'`),
    ).toEqual([{ deleted: true }]);
    expect(await rows('select count(*)::int as live from payments.customers where not deleted')).toEqual([
      { live: (await everyCustomer()).length },
    ]);
  }, 60_000);

  it('goes on when a customer is deleted between listing customers and reading its cards', async () => {
    const leaving = await stripe.customers.create({
      email: 'leaving@example.test',
      payment_method: 'pm_card_visa',
    });
    // A gateway that deletes the customer in Stripe right after the sync has listed the customers.
    let deleted = false;
    const racing: StripeGatewayPort = {
      ...deps.gateway,
      call: async (environment, key, run, idempotencyKey) => {
        const answer = await deps.gateway.call(environment, key, run, idempotencyKey);
        const listed = (answer as { data?: Array<{ id: string }> }).data ?? [];
        if (!deleted && listed.some((object) => object.id === leaving.id)) {
          deleted = true;
          await stripe.customers.del(leaving.id);
        }
        return answer;
      },
    };
    const synced = await syncStripe({ ...deps, gateway: racing }, 'test', ['payment_method', 'tax_id']);
    expect(deleted).toBe(true);
    expect(synced).toMatchObject({ ok: true, summary: { kinds: [{ done: true }, { done: true }] } });
  });

  it('syncing again appends new pages that change no row', async () => {
    const before = await rows(
      "select count(*)::int as entries from payfold.events where type = 'stripe.sync.page'",
    );
    const again = await syncStripe(deps, 'test', ['customer']);
    expect(again).toMatchObject({
      ok: true,
      summary: { kinds: [{ objectKind: 'customer', resumed: false }] },
    });
    const after = await rows(
      "select count(*)::int as entries from payfold.events where type = 'stripe.sync.page'",
    );
    // Three pages of the account's customers, one of the test clock's.
    expect(after[0].entries).toBe(before[0].entries + 4);
    const updatedBefore = await rows('select max(updated_at) as at from payments.customers');
    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
    expect(await rows('select max(updated_at) as at from payments.customers')).toEqual(updatedBefore);
  }, 60_000);
  it('resumes a sync stopped in a test clock’s list where it stopped', async () => {
    const [clock] = await clocks();
    // The account's three pages are appended; the process dies appending the clock's page.
    await expect(syncStripe({ ...deps, log: dyingAtAppend(4) }, 'test', ['customer'])).rejects.toThrow(
      'the process died',
    );
    expect(
      await rows("select next_cursor from payfold.stripe_sync_cursors where object_kind = 'customer'"),
    ).toEqual([{ next_cursor: `test_clock=${clock?.id} ` }]);
    const resumed = await syncStripe(deps, 'test', ['customer']);
    expect(resumed).toMatchObject({
      ok: true,
      summary: { kinds: [{ objectKind: 'customer', resumed: true, pages: 4, done: true }] },
    });
  }, 60_000);

  it('retries each request of a read that takes several (a customer and its subscriptions) on its own', async () => {
    // Seven in ten reads of a customer and of a customer's subscriptions refused. The faults follow
    // the seed and this sync reads one customer at a time, so every run is the same one: retried
    // alone, one of its ~480 requests would need 36 refusals running (about once in a thousand such
    // syncs); retried as a pair (91% refused), about 8 of its ~240 pairs run out of retries.
    const patient = new StripeGateway({
      logger,
      apiBase: emulator.url,
      requestsPerSecond: { test: 10_000 },
      retryBaseMs: 0,
      maxRetries: 35,
    });
    emulator.setFaults({
      api: {
        seed: 3,
        faults: [
          { kind: 'rate_limit', share: 0.7, route: 'GET /v1/customers/', retryAfterSeconds: 0 },
          { kind: 'rate_limit', share: 0.7, route: 'GET /v1/subscriptions', retryAfterSeconds: 0 },
        ],
      },
    });
    const refusedBefore = emulator.injectedApiFaults.length;
    try {
      const synced = await syncStripe({ ...deps, gateway: patient }, 'test', ['discount']);
      expect(synced).toMatchObject({
        ok: true,
        summary: { kinds: [{ objectKind: 'discount', done: true }] },
      });
      expect(emulator.injectedApiFaults.length - refusedBefore).toBeGreaterThan(500);
    } finally {
      emulator.setFaults({});
    }
  }, 60_000);
});

describe('a sync racing live webhooks', () => {
  it('ends in the account as it is, whichever of them arrives last', async () => {
    const db = await createTestDatabase();
    const forwardSecret = 'whsec_racing_the_sync_forwarding';
    const server = await startTestServer(db.url, { STRIPE_WEBHOOK_SECRET_TEST: forwardSecret });
    const emulator = await startEmulator({
      forwardTo: `${server.url}/api/webhooks/stripe/test`,
      forwardSecret,
    });
    try {
      const stripe = emulatorStripe(emulator, 'sk_test_racing');
      const created: Stripe.Customer[] = [];
      for (let index = 0; index < 150; index += 1)
        created.push(await stripe.customers.create({ email: `before${index}@example.test` }));
      const gateway = new StripeGateway({ logger, apiBase: emulator.url, requestsPerSecond: { test: 4 } });
      const connections = testConnections(db, gateway);
      expect(await connections.connect('test', 'sk_test_racing_sync')).toMatchObject({ ok: true });
      const deps = { connections, gateway, cursors: stripeSyncCursorsStore(db.pool), log: db.log };
      // Customers change while their pages are read, and their webhooks arrive meanwhile.
      const [synced] = await Promise.all([
        syncStripe(deps, 'test', ['customer']),
        (async () => {
          for (const [index, customer] of created.entries())
            if (index % 2 === 0)
              await stripe.customers.update(customer.id, { email: `after${index}@example.test` });
        })(),
      ]);
      expect(synced).toMatchObject({ ok: true });
      await emulator.settled();
      await server.payfold.runner.catchUp();
      const customers: Stripe.Customer[] = [];
      for await (const customer of stripe.customers.list({ limit: 100 })) customers.push(customer);
      const { rows } = await db.pool.query('select customer_id, email from payments.customers order by 1');
      expect(rows).toEqual(
        customers
          .map((customer) => ({ customer_id: customer.id, email: customer.email }))
          .sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1)),
      );
      expect(rows.filter((row) => row.email.startsWith('after'))).toHaveLength(75);
    } finally {
      await emulator.stop();
      await server.payfold.close();
      await db.drop();
    }
  }, 120_000);
});

describe('sync progress on a terminal', () => {
  it('redraws one line per kind in place, and plain lines elsewhere', () => {
    const written: string[] = [];
    const stream = (isTTY: boolean) =>
      ({ isTTY, write: (text: string) => written.push(text) }) as unknown as NodeJS.WriteStream;
    const live = syncProgressReporter('test', stream(true));
    live({ objectKind: 'customer', pages: 1, objects: 100, done: false });
    live({ objectKind: 'price', pages: 1, objects: 3, done: true });
    live({ objectKind: 'customer', pages: 2, objects: 150, done: true });
    const screen = written.join('');
    // The third report moved up over both lines and drew them again.
    expect(screen.split('\u001b[2A')).toHaveLength(2);
    // Columns line up whatever the kind's name: each as wide as the longest kind's.
    const width = Math.max(...syncObjectKinds.map((kind) => kind.length));
    expect(
      screen.endsWith(
        `\u001b[2Ktest ${'customer'.padEnd(width)} done       150 objects     2 pages\n\u001b[2Ktest ${'price'.padEnd(width)} done         3 objects     1 pages\n`,
      ),
    ).toBe(true);

    written.length = 0;
    const plain = syncProgressReporter('live', stream(false));
    plain({ objectKind: 'customer', pages: 1, objects: 100, done: false });
    plain({ objectKind: 'customer', pages: 2, objects: 150, done: true });
    expect(written).toEqual(['live customer: 150 objects in 2 pages\n']);
  });
});

describe('a sync of a sizeable account', () => {
  it('takes 5,000 customers and 2,000 subscriptions through 429s and a crash into exactly the account', async () => {
    const db = await createTestDatabase();
    const emulator = await startEmulator({ accountId: 'acct_sizeable' });
    try {
      const stripe = emulatorStripe(emulator, 'sk_test_building');
      const product = await stripe.products.create({ name: 'Seats' });
      const price = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        unit_amount: 1500,
        recurring: { interval: 'month' },
      });
      // Eight at a time, as an app's own traffic would build it.
      await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          for (let index = worker; index < 5000; index += 8) {
            const customer = await stripe.customers.create({ email: `c${index}@sizeable.test` });
            if (index < 2000)
              await stripe.subscriptions.create({
                customer: customer.id,
                items: [{ price: price.id }],
                default_payment_method: 'pm_card_visa',
              });
          }
        }),
      );
      const gateway = new StripeGateway({
        logger,
        apiBase: emulator.url,
        requestsPerSecond: { test: 200 },
        retryBaseMs: 10,
        maxRetries: 10,
      });
      const connections = testConnections(db, gateway);
      expect(await connections.connect('test', 'sk_test_sizeable')).toMatchObject({ ok: true });
      const deps = { connections, gateway, cursors: stripeSyncCursorsStore(db.pool), log: db.log };
      emulator.setFaults({
        api: {
          seed: 5,
          faults: [{ kind: 'rate_limit', share: 0.1, route: 'GET /v1/', retryAfterSeconds: 0 }],
        },
      });
      let appends = 0;
      const dying = {
        append: (entry) => {
          appends += 1;
          return appends === 40 ? Promise.reject(new Error('the process died')) : db.log.append(entry);
        },
      } as Pick<EventLog, 'append'> as EventLog;
      // Payment methods and entitlements are read per customer, a call each: the story account above covers them.
      const kinds = syncObjectKinds.filter((kind) => !perCustomerKinds.has(kind));
      await expect(syncStripe({ ...deps, log: dying }, 'test', kinds)).rejects.toThrow('the process died');
      const resumed = await syncStripe(deps, 'test', kinds);
      emulator.setFaults({});
      expect(resumed.ok).toBe(true);
      expect(emulator.injectedApiFaults.length).toBeGreaterThan(5);

      await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
      const rowsOf = async (sql: string) => (await db.pool.query(sql)).rows;
      const sorted = <T extends Record<string, unknown>>(items: T[], key: keyof T) =>
        items.sort((a, b) => (String(a[key]) < String(b[key]) ? -1 : 1));
      const customers: Stripe.Customer[] = [];
      for await (const customer of stripe.customers.list({ limit: 100 })) customers.push(customer);
      expect(customers).toHaveLength(5000);
      expect(await rowsOf('select customer_id, email from payments.customers order by 1')).toEqual(
        sorted(
          customers.map((customer) => ({ customer_id: customer.id, email: customer.email })),
          'customer_id',
        ),
      );
      const subscriptions: Stripe.Subscription[] = [];
      for await (const subscription of stripe.subscriptions.list({ status: 'all', limit: 100 }))
        subscriptions.push(subscription);
      expect(subscriptions).toHaveLength(2000);
      expect(await rowsOf('select subscription_id, status from payments.subscriptions order by 1')).toEqual(
        sorted(
          subscriptions.map((subscription) => ({
            subscription_id: subscription.id,
            status: subscription.status,
          })),
          'subscription_id',
        ),
      );
      const invoices: Stripe.Invoice[] = [];
      for await (const invoice of stripe.invoices.list({ limit: 100 })) invoices.push(invoice);
      expect(await rowsOf('select invoice_id, status from payments.invoices order by 1')).toEqual(
        sorted(
          invoices.map((invoice) => ({ invoice_id: invoice.id as string, status: invoice.status })),
          'invoice_id',
        ),
      );
    } finally {
      await emulator.stop();
      await db.drop();
    }
  }, 240_000);
});
