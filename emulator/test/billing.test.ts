import { readFileSync } from 'node:fs';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../src/server.js';
import { expectStripeShapes } from './payload-check.js';
import { openApiFixturesFile, priceFor, stripeFor } from './support.js';

const day = 24 * 60 * 60;

describe('the emulator moves money as Stripe does, through the real stripe package', () => {
  let emulator: RunningEmulator;
  let stripe: Stripe;
  let monthly: Stripe.Price;
  let seats: Stripe.Price;
  let yearly: Stripe.Price;
  beforeAll(async () => {
    emulator = await startEmulator();
    stripe = stripeFor(emulator);
    const product = await stripe.products.create({ name: 'Team plan' });
    monthly = await priceFor(stripe, product.id, 1500);
    seats = await priceFor(stripe, product.id, 500);
    yearly = await priceFor(stripe, product.id, 15000, 'year');
  });
  afterAll(async () => {
    expectStripeShapes(emulator);
    await emulator.stop();
  });

  /** The types of the events one API request caused, in the order they were emitted. */
  const eventsOf = (requestId: string) =>
    emulator.store.events.filter((event) => event.request.id === requestId).map((event) => event.type);

  const customerWith = (paymentMethod: string, extra: Stripe.CustomerCreateParams = {}) =>
    stripe.customers.create({ email: 'team@example.com', payment_method: paymentMethod, ...extra });

  it('creates a subscription whose first invoice is paid, emitting the burst Stripe emits', async () => {
    const customer = await customerWith('pm_card_visa');
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id, quantity: 2 }],
      metadata: { payfold_subject_type: 'team', payfold_subject_id: 't1' },
    });
    expect(subscription).toMatchObject({ object: 'subscription', status: 'active', customer: customer.id });
    expect(eventsOf(subscription.lastResponse.requestId)).toEqual([
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
    ]);
    const created = emulator.store.events.find(
      (event) => event.type === 'customer.subscription.created' && event.data.object.id === subscription.id,
    );
    expect(created?.data.object).toMatchObject({
      status: 'incomplete',
      latest_invoice: subscription.latest_invoice,
    });

    const item = subscription.items.data[0] as Stripe.SubscriptionItem;
    expect(item).toMatchObject({ quantity: 2, price: { id: monthly.id } });
    expect(item.current_period_end - item.current_period_start).toBeGreaterThanOrEqual(28 * day);

    const invoice = await stripe.invoices.retrieve(subscription.latest_invoice as string);
    expect(invoice).toMatchObject({
      status: 'paid',
      amount_due: 3000,
      amount_paid: 3000,
      billing_reason: 'subscription_create',
      parent: { subscription_details: { subscription: subscription.id } },
    });
    const [payment] = (await stripe.invoicePayments.list({ invoice: invoice.id })).data;
    expect(payment).toMatchObject({ status: 'paid', amount_paid: 3000, payment: { type: 'payment_intent' } });
    const intent = await stripe.paymentIntents.retrieve(payment?.payment.payment_intent as string);
    expect(intent).toMatchObject({ status: 'succeeded', amount: 3000, customer: customer.id });
    const charge = await stripe.charges.retrieve(intent.latest_charge as string);
    expect(charge).toMatchObject({
      status: 'succeeded',
      paid: true,
      amount: 3000,
      payment_intent: intent.id,
    });
    const lines = await stripe.invoices.listLineItems(invoice.id);
    expect(lines.data.map((line) => [line.amount, line.quantity])).toEqual([[3000, 2]]);
  });

  it('keeps a declined first payment incomplete until the invoice is paid with another card', async () => {
    const customer = await customerWith('pm_card_chargeDeclined');
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    expect(subscription.status).toBe('incomplete');
    expect(eventsOf(subscription.lastResponse.requestId)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'payment_intent.created',
      'invoice.finalized',
      'charge.failed',
      'payment_intent.payment_failed',
      'invoice.payment_failed',
    ]);
    const invoice = await stripe.invoices.retrieve(subscription.latest_invoice as string);
    expect(invoice).toMatchObject({ status: 'open', attempt_count: 1, amount_paid: 0 });
    const [payment] = (await stripe.invoicePayments.list({ invoice: invoice.id })).data;
    const intent = await stripe.paymentIntents.retrieve(payment?.payment.payment_intent as string);
    expect(intent).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'card_declined', decline_code: 'generic_decline' },
    });
    const declined = await stripe.invoices
      .pay(invoice.id, {}, { idempotencyKey: 'pay-once' })
      .catch((e) => e);
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(declined).toMatchObject({ statusCode: 402, code: 'card_declined' });
    const replayed = await stripe.invoices
      .pay(invoice.id, {}, { idempotencyKey: 'pay-once' })
      .catch((e) => e);
    expect(replayed).toMatchObject({ statusCode: 402, code: 'card_declined' });
    expect(replayed.headers['idempotent-replayed']).toBe('true');

    const paid = await stripe.invoices.pay(invoice.id, { payment_method: 'pm_card_visa' });
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 1500, attempt_count: 3 });
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  });

  it('changes price and quantity, cancels at period end and now, and lists by status', async () => {
    const customer = await customerWith('pm_card_visa');
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const item = subscription.items.data[0] as Stripe.SubscriptionItem;

    const changed = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: item.id, price: seats.id, quantity: 5 }],
    });
    expect(changed.items.data).toMatchObject([{ id: item.id, price: { id: seats.id }, quantity: 5 }]);
    const [updated] = emulator.store.events.filter(
      (event) => event.request.id === changed.lastResponse.requestId,
    );
    expect(updated?.type).toBe('customer.subscription.updated');
    expect(updated?.data.previous_attributes?.items).toMatchObject({
      data: [{ price: { id: monthly.id }, quantity: 1 }],
    });

    const mixed = await stripe.subscriptions
      .update(subscription.id, { items: [{ price: yearly.id }] })
      .catch((error) => error);
    expect(mixed).toMatchObject({ statusCode: 400, param: 'items' });
    const unchanged = await stripe.subscriptionItems.list({ subscription: subscription.id });
    expect(unchanged.data).toMatchObject([{ id: item.id, price: { id: seats.id }, quantity: 5 }]);

    const ending = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    expect(ending).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
      cancel_at: item.current_period_end,
      cancellation_details: { reason: 'cancellation_requested' },
    });
    expect(ending.canceled_at).not.toBeNull();
    const resumed = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: false });
    expect(resumed).toMatchObject({ cancel_at_period_end: false, cancel_at: null, canceled_at: null });

    const canceled = await stripe.subscriptions.cancel(subscription.id);
    expect(canceled).toMatchObject({ status: 'canceled' });
    expect(canceled.ended_at).not.toBeNull();
    expect(eventsOf(canceled.lastResponse.requestId)).toEqual(['customer.subscription.deleted']);
    const again = await stripe.subscriptions
      .update(subscription.id, { cancel_at_period_end: true })
      .catch((e) => e);
    expect(again).toMatchObject({ statusCode: 400 });

    const ids = async (params: Stripe.SubscriptionListParams) =>
      (await stripe.subscriptions.list({ customer: customer.id, ...params })).data.map((s) => s.id);
    expect(await ids({})).toEqual([]);
    expect(await ids({ status: 'all' })).toEqual([subscription.id]);
    expect(await ids({ status: 'canceled' })).toEqual([subscription.id]);
    expect(await ids({ status: 'active' })).toEqual([]);
  });

  it('manages subscription items through their own endpoints', async () => {
    const customer = await customerWith('pm_card_visa');
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const added = await stripe.subscriptionItems.create({
      subscription: subscription.id,
      price: seats.id,
      quantity: 3,
    });
    expect(added).toMatchObject({ object: 'subscription_item', subscription: subscription.id, quantity: 3 });
    expect((await stripe.subscriptionItems.update(added.id, { quantity: 4 })).quantity).toBe(4);
    expect(await stripe.subscriptionItems.retrieve(added.id)).toMatchObject({
      quantity: 4,
      price: { id: seats.id },
    });
    const listed = await stripe.subscriptionItems.list({ subscription: subscription.id });
    expect(listed.data.map((item) => item.id).sort()).toEqual(
      [added.id, (subscription.items.data[0] as Stripe.SubscriptionItem).id].sort(),
    );
    expect(await stripe.subscriptionItems.del(added.id)).toMatchObject({ id: added.id, deleted: true });
    const after = await stripe.subscriptions.retrieve(subscription.id);
    expect(after.items.data.map((item) => item.id)).toEqual([
      (subscription.items.data[0] as Stripe.SubscriptionItem).id,
    ]);
    expect(
      emulator.store.events.filter(
        (event) => event.type === 'customer.subscription.updated' && event.data.object.id === subscription.id,
      ),
    ).toHaveLength(4);
  });

  it('charges payment intents, refunds them in part and in full, and refuses more', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 5000,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
      metadata: { order: '42' },
    });
    expect(intent).toMatchObject({ status: 'succeeded', amount_received: 5000 });
    expect(eventsOf(intent.lastResponse.requestId)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.succeeded',
    ]);
    const charge = intent.latest_charge as string;
    expect((await stripe.charges.list({ payment_intent: intent.id })).data.map((c) => c.id)).toEqual([
      charge,
    ]);

    const partial = await stripe.refunds.create({ payment_intent: intent.id, amount: 2000 });
    expect(partial).toMatchObject({ status: 'succeeded', amount: 2000, charge, payment_intent: intent.id });
    expect(eventsOf(partial.lastResponse.requestId)).toEqual(['refund.created', 'charge.refunded']);
    expect(await stripe.charges.retrieve(charge)).toMatchObject({ amount_refunded: 2000, refunded: false });
    const tooMuch = await stripe.refunds.create({ charge, amount: 3001 }).catch((error) => error);
    expect(tooMuch).toMatchObject({ statusCode: 400, code: 'amount_too_large' });
    const rest = await stripe.refunds.create({ charge, reason: 'requested_by_customer' });
    expect(rest.amount).toBe(3000);
    expect(await stripe.charges.retrieve(charge)).toMatchObject({ amount_refunded: 5000, refunded: true });
    const more = await stripe.refunds.create({ charge }).catch((error) => error);
    expect(more).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });
    expect((await stripe.refunds.list({ charge })).data.map((refund) => refund.amount)).toEqual([3000, 2000]);

    const declined = await stripe.paymentIntents.create({
      amount: 900,
      currency: 'usd',
      payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
      confirm: true,
    });
    expect(declined).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { decline_code: 'insufficient_funds' },
    });
    const retried = await stripe.paymentIntents.confirm(declined.id, { payment_method: 'pm_card_visa' });
    expect(retried.status).toBe('succeeded');
    const canceled = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
    expect((await stripe.paymentIntents.cancel(canceled.id)).status).toBe('canceled');
  });

  it('opens disputes on disputing cards and closes them won or lost', async () => {
    const disputedPayment = () =>
      stripe.paymentIntents.create({
        amount: 2500,
        currency: 'usd',
        payment_method: 'pm_card_createDispute',
        confirm: true,
      });
    const first = await disputedPayment();
    expect(eventsOf(first.lastResponse.requestId)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.succeeded',
      'charge.dispute.created',
      'charge.dispute.funds_withdrawn',
    ]);
    const [dispute] = (await stripe.disputes.list({ payment_intent: first.id })).data;
    expect(dispute).toMatchObject({ status: 'needs_response', amount: 2500, reason: 'fraudulent' });
    const refused = await stripe.refunds.create({ payment_intent: first.id }).catch((error) => error);
    expect(refused).toMatchObject({ code: 'charge_disputed' });
    const won = await stripe.disputes.update(dispute?.id as string, {
      evidence: { uncategorized_text: 'winning_evidence' },
    });
    expect(won.status).toBe('won');
    expect(eventsOf(won.lastResponse.requestId)).toEqual([
      'charge.dispute.updated',
      'charge.dispute.closed',
      'charge.dispute.funds_reinstated',
    ]);

    const second = await disputedPayment();
    const [other] = (await stripe.disputes.list({ payment_intent: second.id })).data;
    const lost = await stripe.disputes.close(other?.id as string);
    expect(lost.status).toBe('lost');
    const closedAgain = await stripe.disputes.close(other?.id as string).catch((error) => error);
    expect(closedAgain).toMatchObject({ statusCode: 400 });
  });

  it('expands the fields Payfold reads and refuses what cannot be expanded', async () => {
    const customer = await customerWith('pm_card_visa');
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const expanded = await stripe.subscriptions.retrieve(subscription.id, {
      expand: ['customer', 'latest_invoice', 'latest_invoice.payments'],
    });
    expect(expanded.customer).toMatchObject({ id: customer.id, object: 'customer' });
    expect(expanded.latest_invoice).toMatchObject({
      object: 'invoice',
      payments: { object: 'list', data: [{ object: 'invoice_payment', status: 'paid' }] },
    });
    const listed = await stripe.subscriptions.list({ customer: customer.id, expand: ['data.customer'] });
    expect(listed.data[0]?.customer).toMatchObject({ object: 'customer', email: 'team@example.com' });
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: 'https://x.test/ok',
    });
    const withItems = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] });
    expect(withItems.line_items?.data).toMatchObject([{ price: { id: monthly.id }, quantity: 1 }]);
    const bad = await stripe.subscriptions.retrieve(subscription.id, { expand: ['status'] }).catch((e) => e);
    expect(bad).toMatchObject({ statusCode: 400, param: 'expand' });
  });

  it('answers a deleted customer with deleted: true, as Stripe does', async () => {
    const customer = await stripe.customers.create({ email: 'gone@example.com' });
    await stripe.customers.del(customer.id);
    expect(await stripe.customers.retrieve(customer.id)).toEqual({
      id: customer.id,
      object: 'customer',
      deleted: true,
    });
    const missing = await stripe.customers.retrieve('cus_never').catch((error) => error);
    expect(missing).toMatchObject({ statusCode: 404 });
  });

  it("gives every object the fields of Stripe's own fixtures for the pinned API version", async () => {
    const { resources: stripeShapes } = JSON.parse(readFileSync(openApiFixturesFile, 'utf8')) as {
      resources: Record<string, Record<string, unknown>>;
    };
    // Fields of older versions (invoice.subscription moved under parent in basil) or shown only on
    // request (a charge's refunds, with expand[]=refunds).
    const notInPinnedShape = new Set(['invoice.subscription', 'charge.refunds']);
    await stripe.webhookEndpoints.create({ url: 'https://shape.test/hook', enabled_events: ['*'] });
    await stripe.billingPortal.configurations.create({
      features: {},
    } as Stripe.BillingPortal.ConfigurationCreateParams);
    const customer = await customerWith('pm_card_createDispute');
    await stripe.billingPortal.sessions.create({ customer: customer.id });
    await stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: monthly.id }] });
    await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    await stripe.refunds.create({
      payment_intent: (
        await stripe.paymentIntents.create({
          amount: 700,
          currency: 'usd',
          payment_method: 'pm_card_visa',
          confirm: true,
        })
      ).id,
    });
    await stripe.testHelpers.testClocks.create({ frozen_time: 1_900_000_000 });
    const compared: string[] = [];
    for (const [type, shape] of Object.entries(stripeShapes)) {
      const [record] = emulator.store.collection(type).values();
      if (!record) continue;
      compared.push(type);
      const missing = Object.keys(shape).filter(
        (field) => !(field in record) && !notInPinnedShape.has(`${type}.${field}`),
      );
      expect(missing, type).toEqual([]);
    }
    expect(compared.sort()).toEqual(
      [
        'balance_transaction',
        'billing_portal.configuration',
        'billing_portal.session',
        'charge',
        'checkout.session',
        'customer',
        'dispute',
        'invoice',
        'invoice_payment',
        'payment_intent',
        'payment_method',
        'price',
        'product',
        'refund',
        'subscription',
        'subscription_item',
        'test_helpers.test_clock',
        'webhook_endpoint',
      ].sort(),
    );
  });

  describe('test clocks', () => {
    const clockAt = async (start: number) => {
      const clock = await stripe.testHelpers.testClocks.create({ frozen_time: start });
      return clock;
    };
    const start = Date.UTC(2031, 0, 31, 12) / 1000;

    it('renews monthly subscriptions on the anchor day, clamped to short months, at clock time', async () => {
      const clock = await clockAt(start);
      const customer = await customerWith('pm_card_visa', { test_clock: clock.id });
      const subscription = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
      });
      expect(subscription.start_date).toBe(start);
      const advanced = await stripe.testHelpers.testClocks.advance(clock.id, {
        frozen_time: start + 60 * day,
      });
      expect(advanced).toMatchObject({ status: 'ready', frozen_time: start + 60 * day });
      const invoices = await stripe.invoices.list({ subscription: subscription.id });
      expect(
        invoices.data.map((invoice) => [invoice.billing_reason, invoice.status, invoice.created]),
      ).toEqual([
        ['subscription_cycle', 'paid', Date.UTC(2031, 2, 31, 12) / 1000],
        ['subscription_cycle', 'paid', Date.UTC(2031, 1, 28, 12) / 1000],
        ['subscription_create', 'paid', start],
      ]);
      const renewed = await stripe.subscriptions.retrieve(subscription.id);
      expect(renewed.items.data[0]?.current_period_start).toBe(Date.UTC(2031, 2, 31, 12) / 1000);
      expect(renewed.items.data[0]?.current_period_end).toBe(Date.UTC(2031, 3, 30, 12) / 1000);
      // As Stripe: the next invoice announced three days ahead, a draft at the period's end,
      // finalized and collected an hour later; the charge's balance transaction after that.
      const renewal = Date.UTC(2031, 1, 28, 12) / 1000;
      const timeline = emulator.store.events
        .filter((event) => event.created >= renewal - 3 * day && event.created <= renewal + 3602)
        .map((event) => [event.created - renewal, event.type]);
      expect(timeline).toEqual([
        [-3 * day, 'invoice.upcoming'],
        [0, 'customer.subscription.updated'],
        [0, 'invoice.created'],
        [3600, 'payment_intent.created'],
        [3600, 'invoice.finalized'],
        [3600, 'charge.succeeded'],
        [3600, 'payment_intent.succeeded'],
        [3600, 'invoice_payment.paid'],
        [3600, 'invoice.paid'],
        [3600, 'invoice.payment_succeeded'],
        [3602, 'charge.updated'],
      ]);
      const upcoming = emulator.store.events.find((event) => event.type === 'invoice.upcoming');
      expect(upcoming?.data.object).toMatchObject({
        id: expect.stringMatching(/^upcoming_in_/),
        status: 'draft',
        billing_reason: 'upcoming',
        amount_due: 1500,
      });
      const draft = emulator.store.events.find(
        (event) => event.type === 'invoice.created' && event.created === renewal,
      );
      expect(draft?.data.object).toMatchObject({ status: 'draft', billing_reason: 'subscription_cycle' });
      const behind = await stripe.testHelpers.testClocks
        .advance(clock.id, { frozen_time: start })
        .catch((e) => e);
      expect(behind).toMatchObject({ statusCode: 400, param: 'frozen_time' });
    });

    it('retries a declined renewal, then cancels the subscription', async () => {
      const clock = await clockAt(start);
      const customer = await customerWith('pm_card_visa', { test_clock: clock.id });
      const subscription = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
      });
      await stripe.customers.update(customer.id, {
        invoice_settings: { default_payment_method: 'pm_card_chargeDeclined' },
      });
      await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + 29 * day });
      const pastDue = await stripe.subscriptions.retrieve(subscription.id);
      expect(pastDue.status).toBe('past_due');
      const invoice = await stripe.invoices.retrieve(pastDue.latest_invoice as string);
      expect(invoice).toMatchObject({ status: 'open', attempt_count: 1 });
      // Collected an hour after the renewal; retried three days after that attempt.
      expect(invoice.next_payment_attempt).toBe((invoice.created as number) + 60 * 60 + 3 * day);
      await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + 40 * day });
      const ended = await stripe.subscriptions.retrieve(subscription.id);
      expect(ended).toMatchObject({ status: 'canceled', cancellation_details: { reason: 'payment_failed' } });
      expect(await stripe.invoices.retrieve(invoice.id)).toMatchObject({
        status: 'open',
        attempt_count: 4,
        next_payment_attempt: null,
      });
    });

    it('deletes what lives on a clock with the clock', async () => {
      const clock = await clockAt(start);
      const customer = await customerWith('pm_card_visa', { test_clock: clock.id });
      const subscription = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
      });
      const deleted = await stripe.testHelpers.testClocks.del(clock.id);
      expect(deleted).toMatchObject({ id: clock.id, deleted: true });
      expect(eventsOf(deleted.lastResponse.requestId)).toEqual([
        'customer.subscription.deleted',
        'customer.deleted',
        'test_helpers.test_clock.deleted',
      ]);
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('canceled');
      expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ deleted: true });
    });

    it('expires a subscription whose first invoice stays unpaid for 23 hours', async () => {
      const clock = await clockAt(start);
      const customer = await customerWith('pm_card_chargeDeclined', { test_clock: clock.id });
      const subscription = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
      });
      expect(subscription.status).toBe('incomplete');
      await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + 22 * 60 * 60 });
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('incomplete');
      const advanced = await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + day });
      expect(eventsOf(advanced.lastResponse.requestId)).toEqual([
        'test_helpers.test_clock.advancing',
        'test_helpers.test_clock.ready',
      ]);
      expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({
        status: 'incomplete_expired',
        ended_at: start + 23 * 60 * 60,
      });
      expect((await stripe.invoices.retrieve(subscription.latest_invoice as string)).status).toBe('void');
      const expiry = emulator.store.events.filter(
        (event) => event.created === start + 23 * 60 * 60 && event.request.id === null,
      );
      expect(expiry.map((event) => event.type)).toEqual([
        'payment_intent.canceled',
        'invoice.voided',
        'customer.subscription.deleted',
      ]);
    });

    it('ends trials with a paid invoice and cancels at period end when the period ends', async () => {
      const clock = await clockAt(start);
      const customer = await customerWith('pm_card_visa', { test_clock: clock.id });
      const trial = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
        trial_period_days: 14,
      });
      expect(trial).toMatchObject({ status: 'trialing', trial_end: start + 14 * day });
      expect((await stripe.invoices.retrieve(trial.latest_invoice as string)).amount_paid).toBe(0);
      await stripe.subscriptions.update(trial.id, { cancel_at_period_end: false });
      await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + 15 * day });
      const active = await stripe.subscriptions.retrieve(trial.id);
      expect(active.status).toBe('active');
      expect(
        emulator.store.events.find(
          (event) =>
            event.type === 'customer.subscription.trial_will_end' && event.data.object.id === trial.id,
        )?.created,
      ).toBe(start + 11 * day);
      expect((await stripe.invoices.retrieve(active.latest_invoice as string)).amount_paid).toBe(1500);

      const ending = await stripe.subscriptions.update(trial.id, { cancel_at_period_end: true });
      await stripe.testHelpers.testClocks.advance(clock.id, {
        frozen_time: (ending.cancel_at as number) + day,
      });
      const ended = await stripe.subscriptions.retrieve(trial.id);
      expect(ended).toMatchObject({ status: 'canceled', ended_at: ending.cancel_at });
    });
  });
});
