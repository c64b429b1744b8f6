import { readFileSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStripeShapes, shapesDirectory } from '../scripts/stripe-shapes.js';
import { type RunningEmulator, startEmulator } from '../src/server.js';
import { expectStripeShapes } from './payload-check.js';
import { priceFor, receiver, stripeFor } from './support.js';

const day = 24 * 60 * 60;

// Where a developer testing against the emulator would be misled if it behaved otherwise than Stripe.
describe('the emulator says no where Stripe says no, and sends what Stripe sends when it sends it', () => {
  let emulator: RunningEmulator;
  let stripe: Stripe;
  let monthly: Stripe.Price;
  beforeAll(async () => {
    emulator = await startEmulator({ store: { settlementDelayMs: 50 }, delivery: { firstRetryMs: 20 } });
    stripe = stripeFor(emulator);
    const product = await stripe.products.create({ name: 'Team plan' });
    monthly = await priceFor(stripe, product.id, 2000);
  });
  afterAll(async () => {
    await emulator.settled();
    expectStripeShapes(emulator);
    await emulator.stop();
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    );
  const eventsAbout = (id: string) =>
    emulator.store.events.filter((event) => event.data.object.id === id).map((event) => event.type);

  it('keeps the parameters it checks in step with the pinned stripe package', () => {
    const { params, objects } = generateStripeShapes();
    const committed = (name: string) => JSON.parse(readFileSync(path.join(shapesDirectory, name), 'utf8'));
    // Stale after a `stripe` upgrade: run `npx tsx emulator/scripts/stripe-shapes.ts`.
    expect(committed('params.json')).toEqual(params);
    expect(committed('objects.json')).toEqual(objects);
    expect(Object.keys(params.roots)).toEqual(
      expect.arrayContaining(['POST /v1/customers', 'POST /v1/subscriptions/{}', 'GET /v1/customers/search']),
    );
  });

  it('refuses a parameter a route does not take, naming it, and changes nothing', async () => {
    const unknown = await refusal(
      stripe.customers.create({ bogus_param: '1' } as Stripe.CustomerCreateParams),
    );
    expect(unknown).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(unknown).toMatchObject({
      statusCode: 400,
      code: 'parameter_unknown',
      param: 'bogus_param',
      message: 'Received unknown parameter: bogus_param',
      doc_url: 'https://stripe.com/docs/error-codes/parameter-unknown',
    });
    const customer = await stripe.customers.create({
      email: 'typo@example.test',
      payment_method: 'pm_card_visa',
    });
    const subscriptions = emulator.store.all('subscription').length;
    const typo = await refusal(
      stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
        cancel_at_periodend: true,
      } as Stripe.SubscriptionCreateParams),
    );
    expect(typo).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'cancel_at_periodend' });
    expect(emulator.store.all('subscription')).toHaveLength(subscriptions);
    const nested = await refusal(
      stripe.prices.create({
        currency: 'usd',
        unit_amount: 100,
        product: monthly.product as string,
        recurring: { interval: 'month', bogus: 1 },
      } as Stripe.PriceCreateParams),
    );
    expect(nested).toMatchObject({ code: 'parameter_unknown', param: 'recurring[bogus]' });
    expect(await refusal(stripe.customers.list({ limitt: 3 } as Stripe.CustomerListParams))).toMatchObject({
      code: 'parameter_unknown',
      param: 'limitt',
    });
  });

  it('fills a charge’s balance transaction seconds after charge.succeeded, with charge.updated', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 10_000,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const chargeId = intent.latest_charge as string;
    const succeeded = emulator.store.events.find(
      (event) => event.type === 'charge.succeeded' && event.data.object.id === chargeId,
    );
    expect(succeeded?.data.object.balance_transaction).toBeNull();
    expect((await stripe.charges.retrieve(chargeId)).balance_transaction).toBeNull();
    await emulator.settled();
    expect(eventsAbout(chargeId)).toEqual(['charge.succeeded', 'charge.updated']);
    const updated = emulator.store.events.find(
      (event) => event.type === 'charge.updated' && event.data.object.id === chargeId,
    );
    expect(updated?.data.previous_attributes).toEqual({ balance_transaction: null });
    const transactionId = (await stripe.charges.retrieve(chargeId)).balance_transaction as string;
    expect(await stripe.balanceTransactions.retrieve(transactionId)).toMatchObject({
      object: 'balance_transaction',
      type: 'charge',
      source: chargeId,
      amount: 10_000,
      fee: 320,
      net: 9680,
      fee_details: [{ amount: 320, type: 'stripe_fee' }],
    });
    const listed = await stripe.balanceTransactions.list({ source: chargeId });
    expect(listed.data.map((transaction) => transaction.id)).toEqual([transactionId]);
    const refund = await stripe.refunds.create({ charge: chargeId, amount: 4000 });
    expect(await stripe.balanceTransactions.retrieve(refund.balance_transaction as string)).toMatchObject({
      type: 'refund',
      amount: -4000,
      source: refund.id,
    });
  });

  it('expands nested paths at every level, whatever the order of expand[], and refuses the others', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    await emulator.settled();
    const nestedFirst = await stripe.paymentIntents.retrieve(intent.id, {
      expand: ['latest_charge.balance_transaction', 'latest_charge'],
    });
    const parentFirst = await stripe.paymentIntents.retrieve(intent.id, {
      expand: ['latest_charge', 'latest_charge.balance_transaction'],
    });
    const { lastResponse: _first, ...nested } = nestedFirst;
    const { lastResponse: _second, ...parent } = parentFirst;
    expect(nested).toEqual(parent);
    const charge = nested.latest_charge as Stripe.Charge;
    expect(charge.object).toBe('charge');
    expect((charge.balance_transaction as Stripe.BalanceTransaction).object).toBe('balance_transaction');
    expect(
      await refusal(stripe.paymentIntents.retrieve(intent.id, { expand: ['latest_charge.nothing'] })),
    ).toMatchObject({
      statusCode: 400,
      param: 'expand',
    });
    expect(await refusal(stripe.paymentIntents.retrieve(intent.id, { expand: ['a.b.c.d.e'] }))).toMatchObject(
      { statusCode: 400, message: 'You cannot expand more than 4 levels of a property: a.b.c.d.e.' },
    );
  });

  it('leaves a test clock’s objects out of lists that do not ask for its clock, customer or subscription', async () => {
    const clock = await stripe.testHelpers.testClocks.create({ frozen_time: Date.UTC(2032, 0, 10) / 1000 });
    const customer = await stripe.customers.create({ test_clock: clock.id, payment_method: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const ids = <T extends { id: string }>(list: Stripe.ApiList<T>) => list.data.map((object) => object.id);
    expect(ids(await stripe.customers.list({ limit: 100 }))).not.toContain(customer.id);
    expect(ids(await stripe.customers.list({ test_clock: clock.id }))).toEqual([customer.id]);
    expect(ids(await stripe.subscriptions.list({ limit: 100 }))).not.toContain(subscription.id);
    expect(ids(await stripe.subscriptions.list({ test_clock: clock.id }))).toEqual([subscription.id]);
    expect(ids(await stripe.subscriptions.list({ customer: customer.id }))).toEqual([subscription.id]);
    expect(ids(await stripe.invoices.list({ limit: 100 }))).not.toContain(subscription.latest_invoice);
    expect(ids(await stripe.invoices.list({ customer: customer.id }))).toEqual([subscription.latest_invoice]);
  });

  it('checks and echoes Stripe-Version, echoes Idempotency-Key and names the original request of a replay', async () => {
    const current = await stripe.customers.create({ email: 'version@example.test' });
    expect(current.lastResponse.headers['stripe-version']).toBe(Stripe.API_VERSION);
    const future = stripeFor(emulator, { apiVersion: '2099-01-01.future' as Stripe.LatestApiVersion });
    expect(await refusal(future.customers.create({}))).toMatchObject({
      statusCode: 400,
      message: 'Invalid Stripe API version: 2099-01-01.future',
    });
    const first = await stripe.customers.create(
      { email: 'once@example.test' },
      { idempotencyKey: 'create-once' },
    );
    const replay = await stripe.customers.create(
      { email: 'once@example.test' },
      { idempotencyKey: 'create-once' },
    );
    expect(first.lastResponse.headers['idempotency-key']).toBe('create-once');
    expect(replay.id).toBe(first.id);
    expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(replay.lastResponse.headers['original-request']).toBe(first.lastResponse.requestId);
  });

  it('makes payment methods of test cards, attaches the card Checkout saves, and serves them', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: 'https://app.example/done',
    });
    const completed = await emulator.helpers.completeCheckoutSession(session.id, {
      paymentMethod: 'pm_card_visa',
    });
    const customer = completed.customer as string;
    const attached = emulator.store.events.find(
      (event) => event.type === 'payment_method.attached' && event.data.object.customer === customer,
    );
    const paymentMethodId = attached?.data.object.id as string;
    expect(paymentMethodId).toMatch(/^pm_(?!card_)/);
    const subscription = await stripe.subscriptions.retrieve(completed.subscription as string, {
      expand: ['latest_invoice.payments'],
    });
    expect(subscription.default_payment_method).toBe(paymentMethodId);
    const charge = (await stripe.charges.list({ customer })).data[0] as Stripe.Charge;
    expect(charge.payment_method).toBe(paymentMethodId);
    expect(await stripe.paymentMethods.retrieve(paymentMethodId)).toMatchObject({
      type: 'card',
      customer,
      card: { brand: 'visa', last4: '4242', exp_year: 2034 },
    });
    expect((await stripe.customers.listPaymentMethods(customer)).data.map((method) => method.id)).toEqual([
      paymentMethodId,
    ]);
    const detached = await stripe.paymentMethods.detach(paymentMethodId);
    expect(detached.customer).toBeNull();
    expect((await stripe.paymentMethods.list({ customer })).data).toEqual([]);
    const reattached = await stripe.paymentMethods.attach(paymentMethodId, { customer });
    expect(reattached.customer).toBe(customer);
    expect(eventsAbout(paymentMethodId)).toEqual([
      'payment_method.attached',
      'payment_method.detached',
      'payment_method.attached',
    ]);
  });

  it('saves a card without a payment through a setup intent, and reports a declined one', async () => {
    const customer = await stripe.customers.create({ email: 'saver@example.com' });
    const declined = await stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_chargeDeclined',
      confirm: true,
    });
    expect(declined).toMatchObject({
      status: 'requires_payment_method',
      last_setup_error: { code: 'card_declined', decline_code: 'generic_decline' },
    });
    const intent = await stripe.setupIntents.create({ customer: customer.id, usage: 'off_session' });
    expect(intent.status).toBe('requires_payment_method');
    const succeeded = await stripe.setupIntents.confirm(intent.id, { payment_method: 'pm_card_visa' });
    expect(succeeded).toMatchObject({ status: 'succeeded', usage: 'off_session', last_setup_error: null });
    const saved = succeeded.payment_method as string;
    expect(await stripe.paymentMethods.retrieve(saved)).toMatchObject({ customer: customer.id });
    expect(eventsAbout(declined.id)).toEqual(['setup_intent.created', 'setup_intent.setup_failed']);
    expect(eventsAbout(intent.id)).toEqual(['setup_intent.created', 'setup_intent.succeeded']);
    expect(eventsAbout(saved)).toEqual(['payment_method.attached']);
    const refused = await refusal(stripe.setupIntents.confirm(intent.id));
    expect(refused).toMatchObject({ statusCode: 400, code: 'setup_intent_unexpected_state' });
    const listed = await stripe.setupIntents.list({ customer: customer.id });
    expect(listed.data.map((each) => each.id).sort()).toEqual([declined.id, intent.id].sort());
    const abandoned = await stripe.setupIntents.create({ customer: customer.id });
    expect((await stripe.setupIntents.cancel(abandoned.id)).status).toBe('canceled');
    expect(eventsAbout(abandoned.id)).toEqual(['setup_intent.created', 'setup_intent.canceled']);
  });

  it('entitles a subscription’s customer to its product’s features, and takes them back when it ends', async () => {
    const product = await stripe.products.create({ name: 'Analytics plan' });
    const price = await priceFor(stripe, product.id, 4000);
    const reports = await stripe.entitlements.features.create({ name: 'Reports', lookup_key: 'reports' });
    const exports = await stripe.entitlements.features.create({
      name: 'CSV export',
      lookup_key: 'csv_export',
    });
    expect(
      await refusal(stripe.entitlements.features.create({ name: 'Again', lookup_key: 'reports' })),
    ).toMatchObject({ statusCode: 400, param: 'lookup_key' });
    await stripe.products.createFeature(product.id, { entitlement_feature: reports.id });
    await stripe.products.createFeature(product.id, { entitlement_feature: exports.id });
    expect(
      (await stripe.products.listFeatures(product.id)).data.map(
        (each) => each.entitlement_feature.lookup_key,
      ),
    ).toEqual(['reports', 'csv_export']);

    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
    });
    const entitled = await stripe.entitlements.activeEntitlements.list({ customer: customer.id });
    expect(entitled.data.map((entitlement) => [entitlement.lookup_key, entitlement.feature]).sort()).toEqual([
      ['csv_export', exports.id],
      ['reports', reports.id],
    ]);
    await stripe.subscriptions.cancel(subscription.id);
    expect((await stripe.entitlements.activeEntitlements.list({ customer: customer.id })).data).toEqual([]);

    const summaries = emulator.store.events.filter(
      (event) =>
        event.type === 'entitlements.active_entitlement_summary.updated' &&
        event.data.object.customer === customer.id,
    );
    expect(
      summaries.map((event) =>
        (event.data.object.entitlements as Stripe.ApiList<Stripe.Entitlements.ActiveEntitlement>).data.map(
          (entitlement) => entitlement.lookup_key,
        ),
      ),
    ).toEqual([['csv_export', 'reports'], []]);
    // Each right after the subscription event that changed it.
    const types = emulator.store.events.map((event) => event.type);
    for (const summary of summaries) {
      expect(types[emulator.store.events.indexOf(summary) - 1]).toMatch(/^customer\.subscription\./);
    }
    expect(summaries[1]?.data.previous_attributes).toMatchObject({
      entitlements: { data: [{ lookup_key: 'csv_export' }, { lookup_key: 'reports' }] },
    });
  });

  it('keeps customers’ tax ids, checks an EU VAT number later, and deletes them with the object in the event', async () => {
    const customer = await stripe.customers.create({ name: 'Acme GmbH' });
    const vat = await stripe.customers.createTaxId(customer.id, { type: 'eu_vat', value: 'DE123456789' });
    expect(vat).toMatchObject({ country: 'DE', customer: customer.id, verification: { status: 'pending' } });
    const ein = await stripe.taxIds.create({
      type: 'us_ein',
      value: '12-3456789',
      owner: { type: 'customer', customer: customer.id },
    });
    expect(ein.verification?.status).toBe('unavailable');
    expect(
      await refusal(stripe.customers.createTaxId(customer.id, { type: 'xx_tax' as 'eu_vat', value: '1' })),
    ).toMatchObject({ statusCode: 400, param: 'type' });
    await emulator.settled();
    expect((await stripe.taxIds.retrieve(vat.id)).verification?.status).toBe('verified');
    expect((await stripe.customers.listTaxIds(customer.id)).data.map((taxId) => taxId.id).sort()).toEqual(
      [vat.id, ein.id].sort(),
    );
    expect(await stripe.taxIds.del(ein.id)).toEqual(expect.objectContaining({ id: ein.id, deleted: true }));
    expect(eventsAbout(vat.id)).toEqual(['customer.tax_id.created', 'customer.tax_id.updated']);
    expect(eventsAbout(ein.id)).toEqual(['customer.tax_id.created', 'customer.tax_id.deleted']);
    const deletion = emulator.store.events.find((event) => event.type === 'customer.tax_id.deleted');
    expect(deletion?.data.object).toMatchObject({ id: ein.id, value: '12-3456789' });
  });

  it('warns of fraud on a charge, and the warning stops being actionable once the charge is refunded', async () => {
    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
    const intent = await stripe.paymentIntents.create({
      amount: 3000,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const warning = await emulator.helpers.openEarlyFraudWarning(intent.id, 'made_with_stolen_card');
    expect(warning).toMatchObject({
      actionable: true,
      charge: intent.latest_charge,
      payment_intent: intent.id,
    });
    expect(
      (await stripe.radar.earlyFraudWarnings.list({ payment_intent: intent.id })).data.map((each) => each.id),
    ).toEqual([warning.id]);
    await stripe.refunds.create({ payment_intent: intent.id });
    expect((await stripe.radar.earlyFraudWarnings.retrieve(warning.id)).actionable).toBe(false);
    expect(eventsAbout(warning.id)).toEqual([
      'radar.early_fraud_warning.created',
      'radar.early_fraud_warning.updated',
    ]);
  });

  it('credits a paid invoice with a refund and an out-of-band part, and voids the note', async () => {
    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      expand: ['latest_invoice'],
    });
    const invoice = subscription.latest_invoice as Stripe.Invoice;
    expect(invoice.status).toBe('paid');
    expect(
      await refusal(stripe.creditNotes.create({ invoice: invoice.id, amount: 1500, refund_amount: 500 })),
    ).toMatchObject({ statusCode: 400, param: 'amount' });
    const note = await stripe.creditNotes.create({
      invoice: invoice.id,
      refund_amount: 500,
      out_of_band_amount: 300,
      reason: 'product_unsatisfactory',
    });
    expect(note).toMatchObject({
      amount: 800,
      status: 'issued',
      type: 'post_payment',
      out_of_band_amount: 300,
    });
    const refund = await stripe.refunds.retrieve(note.refunds[0]?.refund as string);
    expect(refund.amount).toBe(500);
    expect((await stripe.invoices.retrieve(invoice.id)).post_payment_credit_notes_amount).toBe(800);
    expect((await stripe.creditNotes.list({ invoice: invoice.id })).data.map((each) => each.id)).toEqual([
      note.id,
    ]);
    const voided = await stripe.creditNotes.voidCreditNote(note.id);
    expect(voided).toMatchObject({ status: 'void', voided_at: expect.any(Number) });
    expect((await stripe.invoices.retrieve(invoice.id)).post_payment_credit_notes_amount).toBe(0);
    expect(eventsAbout(note.id)).toEqual(['credit_note.created', 'credit_note.voided']);
    expect(
      await refusal(stripe.creditNotes.create({ invoice: invoice.id, refund_amount: 5000 })),
    ).toMatchObject({ statusCode: 400, param: 'amount' });
  });

  it('keeps coupons and promotion codes of the catalog, with the events Stripe sends', async () => {
    const coupon = await stripe.coupons.create({
      percent_off: 25,
      duration: 'repeating',
      duration_in_months: 3,
      name: 'Launch',
    });
    expect(coupon).toMatchObject({ percent_off: 25, amount_off: null, duration_in_months: 3, valid: true });
    expect(
      await refusal(stripe.coupons.create({ percent_off: 10, amount_off: 500, currency: 'usd' })),
    ).toMatchObject({ statusCode: 400, param: 'percent_off' });
    expect(await refusal(stripe.coupons.create({ duration: 'repeating', percent_off: 10 }))).toMatchObject({
      statusCode: 400,
      param: 'duration_in_months',
    });
    const code = await stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'LAUNCH25',
    });
    expect(code).toMatchObject({
      code: 'LAUNCH25',
      active: true,
      promotion: { coupon: coupon.id, type: 'coupon' },
    });
    expect((await stripe.promotionCodes.list({ code: 'LAUNCH25' })).data.map((each) => each.id)).toEqual([
      code.id,
    ]);
    await stripe.promotionCodes.update(code.id, { active: false });
    await stripe.coupons.update(coupon.id, { name: 'Launch week' });
    expect(await stripe.coupons.del(coupon.id)).toMatchObject({ id: coupon.id, deleted: true });
    expect(eventsAbout(coupon.id)).toEqual(['coupon.created', 'coupon.updated', 'coupon.deleted']);
    expect(eventsAbout(code.id)).toEqual(['promotion_code.created', 'promotion_code.updated']);
  });

  it('applies a coupon to a subscription’s invoices for its duration, and a promotion code at Checkout', async () => {
    const clock = await stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
    const customer = await stripe.customers.create({ test_clock: clock.id, payment_method: 'pm_card_visa' });
    const once = await stripe.coupons.create({ percent_off: 25, duration: 'once' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      discounts: [{ coupon: once.id }],
      expand: ['latest_invoice'],
    });
    const first = subscription.latest_invoice as Stripe.Invoice;
    expect(first).toMatchObject({ subtotal: 2000, total: 1500, amount_paid: 1500 });
    const [discountId] = subscription.discounts as string[];
    expect(first.total_discount_amounts).toEqual([{ amount: 500, discount: discountId }]);
    expect((await stripe.coupons.retrieve(once.id)).times_redeemed).toBe(1);
    // A month later the once-only discount has ended: the renewal is charged in full.
    await stripe.testHelpers.testClocks.advance(clock.id, {
      frozen_time: (subscription.items.data[0]?.current_period_end as number) + 2 * 3600,
    });
    const renewed = await stripe.subscriptions.retrieve(subscription.id, { expand: ['latest_invoice'] });
    expect(renewed.discounts).toEqual([]);
    expect((renewed.latest_invoice as Stripe.Invoice).total).toBe(2000);
    expect(eventsAbout(discountId as string)).toEqual([
      'customer.discount.created',
      'customer.discount.deleted',
    ]);

    const amountOff = await stripe.coupons.create({ amount_off: 300, currency: 'usd', duration: 'forever' });
    const code = await stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: amountOff.id },
      code: 'TEAM3',
    });
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id, quantity: 1 }],
      discounts: [{ promotion_code: code.id }],
      success_url: 'https://app.example/done',
    });
    expect(session.discounts).toEqual([{ coupon: null, promotion_code: code.id }]);
    const completed = await emulator.helpers.completeCheckoutSession(session.id, {
      paymentMethod: 'pm_card_visa',
    });
    const bought = await stripe.subscriptions.retrieve(completed.subscription as string, {
      expand: ['discounts', 'latest_invoice'],
    });
    expect(bought.discounts).toMatchObject([
      { promotion_code: code.id, source: { coupon: amountOff.id }, end: null },
    ]);
    expect((bought.latest_invoice as Stripe.Invoice).total).toBe(1700);
    expect(
      await refusal(
        stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: monthly.id }],
          discounts: [{ coupon: 'NOPE' }],
        }),
      ),
    ).toMatchObject({ statusCode: 404 });
  });

  it('runs a subscription schedule: its phases change the items as a test clock passes, then it releases', async () => {
    const clock = await stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
    const customer = await stripe.customers.create({ test_clock: clock.id, payment_method: 'pm_card_visa' });
    const product = await stripe.products.create({ name: 'Team plan, yearly seats' });
    const introductory = await priceFor(stripe, product.id, 1000);
    const schedule = await stripe.subscriptionSchedules.create({
      customer: customer.id,
      start_date: 'now',
      end_behavior: 'release',
      phases: [
        {
          items: [{ price: introductory.id, quantity: 1 }],
          duration: { interval: 'month', interval_count: 1 },
        },
        { items: [{ price: monthly.id, quantity: 2 }], duration: { interval: 'month', interval_count: 1 } },
      ],
    });
    expect(schedule).toMatchObject({
      status: 'active',
      current_phase: { start_date: schedule.phases[0]?.start_date },
    });
    const subscriptionId = schedule.subscription as string;
    expect((await stripe.subscriptions.retrieve(subscriptionId)).schedule).toBe(schedule.id);
    const advance = async (to: number) => {
      await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: to + 2 * 3600 });
    };
    await advance(schedule.phases[0]?.end_date as number);
    const secondPhase = await stripe.subscriptions.retrieve(subscriptionId, { expand: ['latest_invoice'] });
    expect(secondPhase.items.data.map((item) => [item.price.id, item.quantity])).toEqual([[monthly.id, 2]]);
    expect((secondPhase.latest_invoice as Stripe.Invoice).total).toBe(4000);
    expect((await stripe.subscriptionSchedules.retrieve(schedule.id)).current_phase?.start_date).toBe(
      schedule.phases[1]?.start_date,
    );
    await advance(schedule.phases[1]?.end_date as number);
    expect(await stripe.subscriptionSchedules.retrieve(schedule.id)).toMatchObject({
      status: 'released',
      released_subscription: subscriptionId,
      subscription: null,
    });
    expect((await stripe.subscriptions.retrieve(subscriptionId)).status).toBe('active');
    expect(eventsAbout(schedule.id)).toEqual([
      'subscription_schedule.created',
      'subscription_schedule.updated',
      'subscription_schedule.released',
    ]);
  });

  it('searches with Stripe’s query language', async () => {
    const ada = await stripe.customers.create({
      email: 'ada@search.test',
      name: 'Ada Lovelace',
      metadata: { plan: 'team' },
    });
    await stripe.customers.create({
      email: 'grace@search.test',
      name: 'Grace Hopper',
      metadata: { plan: 'solo' },
    });
    const found = async (query: string) =>
      (await stripe.customers.search({ query })).data.map((customer) => customer.email);
    expect(await found("email:'ada@search.test'")).toEqual(['ada@search.test']);
    expect(await found("name~'hopper'")).toEqual(['grace@search.test']);
    expect(await found("metadata['plan']:'team' AND email~'search.test'")).toEqual(['ada@search.test']);
    expect(await found("email:'ada@search.test' OR email:'grace@search.test'")).toEqual([
      'grace@search.test',
      'ada@search.test',
    ]);
    expect(await found("-metadata['plan']:'solo' AND email~'search.test'")).toEqual(['ada@search.test']);
    const paged = await stripe.customers.search({ query: "email~'search.test'", limit: 1 });
    expect(paged).toMatchObject({ object: 'search_result', has_more: true });
    const next = await stripe.customers.search({
      query: "email~'search.test'",
      limit: 1,
      page: paged.next_page as string,
    });
    expect(next.data.map((customer) => customer.id)).toEqual([ada.id]);
    expect(
      (await stripe.prices.search({ query: "active:'true' AND currency:'usd'" })).data.length,
    ).toBeGreaterThan(0);
    expect(await refusal(stripe.customers.search({ query: "balance:'0'" }))).toMatchObject({
      statusCode: 400,
      message: 'Field `balance` is an unsupported search field for resource `customers`.',
    });
  });

  it('keeps a webhook endpoint’s api_version and says it in the envelope of each event sent to it', async () => {
    const hook = await receiver();
    try {
      const endpoint = await stripe.webhookEndpoints.create({
        url: hook.url,
        enabled_events: ['customer.created'],
        api_version: '2025-09-30.clover',
      });
      expect(endpoint.api_version).toBe('2025-09-30.clover');
      expect(
        await refusal(
          stripe.webhookEndpoints.create({
            url: hook.url,
            enabled_events: ['*'],
            api_version: 'not-a-version' as Stripe.WebhookEndpointCreateParams.ApiVersion,
          }),
        ),
      ).toMatchObject({ statusCode: 400, param: 'api_version' });
      await stripe.customers.create({ email: 'versioned@example.test' });
      await emulator.settled();
      expect(hook.received.map((delivery) => JSON.parse(delivery.body).api_version)).toEqual([
        '2025-09-30.clover',
      ]);
      await stripe.webhookEndpoints.del(endpoint.id);
    } finally {
      await hook.close();
    }
  });

  it('announces a renewal three days ahead and keeps its invoice a draft for an hour', async () => {
    const start = Date.UTC(2033, 0, 1, 9) / 1000;
    const clock = await stripe.testHelpers.testClocks.create({ frozen_time: start });
    const customer = await stripe.customers.create({ test_clock: clock.id, payment_method: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const periodEnd = subscription.items.data[0]?.current_period_end as number;
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: periodEnd - 3 * day });
    expect(emulator.store.events.at(-2)?.type).toBe('invoice.upcoming');
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: periodEnd + 30 * 60 });
    const draft = await stripe.invoices.retrieve(
      (await stripe.subscriptions.retrieve(subscription.id)).latest_invoice as string,
    );
    expect(draft).toMatchObject({ status: 'draft', billing_reason: 'subscription_cycle', amount_paid: 0 });
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: periodEnd + 2 * 60 * 60 });
    expect(await stripe.invoices.retrieve(draft.id)).toMatchObject({ status: 'paid', amount_paid: 2000 });
  });
});
