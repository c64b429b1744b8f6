import type Stripe from 'stripe';
import { discountInputs } from './discounts.js';
import { finalizeInvoice, voidInvoice } from './invoices.js';
import {
  bool,
  fieldFilter,
  integer,
  invalid,
  mergeMetadata,
  missing,
  named,
  type Params,
  required,
  StripeApiError,
  text,
} from './params.js';
import { attachPaymentMethod, paymentMethodOf } from './payment-methods.js';
import {
  cancelPaymentIntent,
  closeDispute,
  confirmPaymentIntent,
  createPaymentIntent,
  disputedCharge,
  existing,
  onClockOf,
  onCustomerClock,
  refundCharge,
  updateDispute,
} from './payments.js';
import { type Resource, resource } from './resources.js';
import {
  type Act,
  invoicePaymentType,
  type ObjectType,
  referencedId,
  type StoredObjects,
  subscriptionItemType,
  testClockType,
} from './store.js';
import {
  cancelSubscription,
  createSubscription,
  payInvoice,
  type SubscriptionChange,
  updateSubscription,
} from './subscriptions.js';
import { advanceTestClock } from './test-clocks.js';

// The API resources of money moving: subscriptions and their invoices, payments, refunds, disputes.

const metadataChange = (record: { metadata: Stripe.Metadata | null }, params: Params) =>
  'metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {};

/** An update that only touches descriptive fields; emits `<event>` when something changed. */
const descriptiveUpdate =
  <T extends ObjectType>(type: T, eventType: string, fields: (params: Params) => Partial<StoredObjects[T]>) =>
  (record: StoredObjects[T], params: Params, { store, context }: Act): StoredObjects[T] =>
    store.update(
      type,
      record.id,
      {
        ...named(params, fields(params)),
        ...metadataChange(record as { metadata: Stripe.Metadata | null }, params),
      },
      eventType,
      context,
    );

const subscriptionStatuses = new Set([
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'paused',
]);

const paymentBehaviors = new Set(['allow_incomplete', 'default_incomplete']);

/** A subscription's `default_payment_method`: attached to its customer first (a test card becomes one). */
const defaultPaymentMethodOf = (act: Act, params: Params, customer: string): string | null => {
  const given = text(params, 'default_payment_method');
  return given ? paymentMethodOf(act, given, 'default_payment_method', customer).id : null;
};

const itemChanges = (params: Params): SubscriptionChange['items'] => {
  const items = params.items;
  if (items === undefined) return [];
  if (!Array.isArray(items)) throw invalid('items', 'Invalid array: items');
  return items.map((item: Params) => ({
    id: text(item, 'id'),
    price: text(item, 'price'),
    quantity: integer(item, 'quantity'),
    deleted: bool(item, 'deleted') ?? false,
  }));
};

export const subscriptions = resource({
  type: 'subscription',
  path: 'subscriptions',
  create: (params, act) => {
    const customer = required(params, 'customer');
    const behavior = text(params, 'payment_behavior') ?? 'allow_incomplete';
    if (!paymentBehaviors.has(behavior)) {
      throw invalid(
        'payment_behavior',
        `The emulator takes payment_behavior allow_incomplete or default_incomplete, not ${behavior}.`,
      );
    }
    const items = itemChanges(params);
    if (items.length === 0) throw missing('items');
    const onClock = onCustomerClock(act, customer);
    const trialDays = integer(params, 'trial_period_days');
    const trialEnd = params.trial_end === 'now' ? null : integer(params, 'trial_end');
    const now = onClock.context.at as number;
    return createSubscription(onClock, {
      customer,
      items: items.map((item, index) => {
        if (!item.price) throw missing(`items[${index}][price]`);
        return { price: item.price, quantity: item.quantity ?? 1 };
      }),
      metadata: mergeMetadata({}, params.metadata),
      defaultPaymentMethod: defaultPaymentMethodOf(onClock, params, customer),
      trialEnd: trialEnd ?? (trialDays ? now + trialDays * 24 * 60 * 60 : null),
      paymentBehavior: behavior as 'allow_incomplete' | 'default_incomplete',
      discounts: discountInputs(params),
    });
  },
  update: (subscription, params, act) =>
    updateSubscription(onClockOf(act, subscription), subscription, {
      items: itemChanges(params),
      cancelAtPeriodEnd: bool(params, 'cancel_at_period_end'),
      metadata: 'metadata' in params ? mergeMetadata(subscription.metadata, params.metadata) : null,
      defaultPaymentMethod:
        'default_payment_method' in params
          ? defaultPaymentMethodOf(act, params, referencedId(subscription.customer) ?? '')
          : undefined,
      ...('discounts' in params && { discounts: discountInputs(params) }),
    }),
  remove: (subscription, _params, act) => cancelSubscription(onClockOf(act, subscription), subscription),
  matches: (subscription, params) => {
    const status = text(params, 'status');
    if (status && status !== 'all' && status !== 'ended' && !subscriptionStatuses.has(status)) {
      throw invalid('status', `Invalid status: ${status}`);
    }
    const statusMatches =
      status === 'all' ||
      (status === 'ended'
        ? subscription.status === 'canceled' || subscription.status === 'incomplete_expired'
        : status
          ? subscription.status === status
          : subscription.status !== 'canceled');
    const price = text(params, 'price');
    return (
      statusMatches &&
      (!price || subscription.items.data.some((item) => item.price.id === price)) &&
      fieldFilter('customer', 'test_clock')(subscription, params)
    );
  },
  searchFields: ['created', 'metadata', 'status'],
});

/** Items change through their subscription: every change is a `customer.subscription.updated`. */
export const subscriptionItems = resource({
  type: subscriptionItemType,
  path: 'subscription_items',
  create: (params, act) => {
    const subscription = existing(
      act.store,
      'subscription',
      required(params, 'subscription'),
      'subscription',
    );
    const before = new Set(subscription.items.data.map((item) => item.id));
    const updated = updateSubscription(onClockOf(act, subscription), subscription, {
      items: [
        { id: null, price: required(params, 'price'), quantity: integer(params, 'quantity'), deleted: false },
      ],
      cancelAtPeriodEnd: null,
      metadata: null,
      defaultPaymentMethod: undefined,
    });
    const added = updated.items.data.find((item) => !before.has(item.id));
    return existing(act.store, subscriptionItemType, added?.id ?? '', 'price');
  },
  update: (item, params, act) => {
    const subscription = existing(act.store, 'subscription', item.subscription, 'subscription');
    updateSubscription(onClockOf(act, subscription), subscription, {
      items: [
        { id: item.id, price: text(params, 'price'), quantity: integer(params, 'quantity'), deleted: false },
      ],
      cancelAtPeriodEnd: null,
      metadata: null,
      defaultPaymentMethod: undefined,
    });
    return existing(act.store, subscriptionItemType, item.id, 'id');
  },
  remove: (item, _params, act) => {
    const subscription = existing(act.store, 'subscription', item.subscription, 'subscription');
    updateSubscription(onClockOf(act, subscription), subscription, {
      items: [{ id: item.id, price: null, quantity: null, deleted: true }],
      cancelAtPeriodEnd: null,
      metadata: null,
      defaultPaymentMethod: undefined,
    });
    return { id: item.id, object: subscriptionItemType, deleted: true };
  },
  matches: (item, params) => {
    if (!text(params, 'subscription')) throw missing('subscription');
    return fieldFilter('subscription')(item, params);
  },
});

const invoiceSubscription = (invoice: Stripe.Invoice): string | null =>
  referencedId(invoice.parent?.subscription_details?.subscription);

export const invoices = resource({
  type: 'invoice',
  path: 'invoices',
  update: descriptiveUpdate('invoice', 'invoice.updated', (params) => ({
    description: text(params, 'description'),
    footer: text(params, 'footer'),
  })),
  actions: {
    finalize: (invoice, _params, act) => finalizeInvoice(onClockOf(act, invoice), invoice),
    pay: (invoice, params, act) =>
      payInvoice(onClockOf(act, invoice), invoice, text(params, 'payment_method')),
    void: (invoice, _params, act) => voidInvoice(onClockOf(act, invoice), invoice),
  },
  lists: {
    lines: (invoice) => invoice.lines.data,
    payments: (invoice, store) =>
      store.all(invoicePaymentType).filter((payment) => payment.invoice === invoice.id),
  },
  matches: (invoice, params) => {
    const subscription = text(params, 'subscription');
    return (
      (!subscription || invoiceSubscription(invoice) === subscription) &&
      fieldFilter('customer', 'status')(invoice, params)
    );
  },
  searchFields: [
    'created',
    'currency',
    'customer',
    'metadata',
    'number',
    'receipt_number',
    'status',
    'total',
  ],
});

export const invoicePayments = resource({
  type: invoicePaymentType,
  path: 'invoice_payments',
  matches: (payment, params) => {
    const wanted = (params.payment as Params | undefined)?.payment_intent;
    const intent = payment.payment.payment_intent;
    return (!wanted || wanted === intent) && fieldFilter('invoice', 'status')(payment, params);
  },
});

export const paymentIntents = resource({
  type: 'payment_intent',
  path: 'payment_intents',
  create: (params, act) => {
    const amount = integer(params, 'amount');
    if (amount === null) throw missing('amount');
    if (amount < 50) throw invalid('amount', 'Amount must be at least 50 cents.');
    const customer = text(params, 'customer');
    if (customer) existing(act.store, 'customer', customer, 'customer');
    const onClock = onCustomerClock(act, customer);
    const paymentMethodGiven = text(params, 'payment_method');
    const intent = createPaymentIntent(onClock, {
      amount,
      currency: required(params, 'currency').toLowerCase(),
      customer,
      description: text(params, 'description'),
      metadata: mergeMetadata({}, params.metadata),
      paymentMethod: paymentMethodGiven
        ? paymentMethodOf(onClock, paymentMethodGiven, 'payment_method').id
        : null,
    });
    if (bool(params, 'confirm')) confirmPaymentIntent(onClock, intent, null);
    return existing(act.store, 'payment_intent', intent.id, 'id');
  },
  update: descriptiveUpdate('payment_intent', 'payment_intent.updated', (params) => ({
    description: text(params, 'description'),
    receipt_email: text(params, 'receipt_email'),
  })),
  actions: {
    confirm: (intent, params, act) => {
      confirmPaymentIntent(onClockOf(act, intent), intent, text(params, 'payment_method'));
      return existing(act.store, 'payment_intent', intent.id, 'id');
    },
    cancel: (intent, params, act) =>
      cancelPaymentIntent(onClockOf(act, intent), intent, cancellationReason(params)),
  },
  matches: fieldFilter('customer'),
  searchFields: ['amount', 'created', 'currency', 'customer', 'metadata', 'status'],
});

export const charges = resource({
  type: 'charge',
  path: 'charges',
  update: descriptiveUpdate('charge', 'charge.updated', (params) => ({
    description: text(params, 'description'),
    receipt_email: text(params, 'receipt_email'),
  })),
  lists: {
    refunds: (charge, store) =>
      store
        .all('refund')
        .filter((refund) => refund.charge === charge.id)
        .reverse(),
  },
  matches: fieldFilter('customer', 'payment_intent'),
  searchFields: [
    'amount',
    'billing_details.address.postal_code',
    'created',
    'currency',
    'customer',
    'disputed',
    'metadata',
    'payment_method_details.card.brand',
    'payment_method_details.card.exp_month',
    'payment_method_details.card.exp_year',
    'payment_method_details.card.fingerprint',
    'payment_method_details.card.last4',
    'refunded',
    'status',
  ],
});

const refundReasons = new Set(['duplicate', 'fraudulent', 'requested_by_customer']);
const isRefundReason = (reason: string): reason is Stripe.Refund.Reason => refundReasons.has(reason);

const cancellationReasons = new Set(['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned']);
/** A payment intent's cancellation reason as the request gives it. */
const cancellationReason = (params: Params): Stripe.PaymentIntent.CancellationReason | null => {
  const reason = text(params, 'cancellation_reason');
  if (reason === null) return null;
  if (!cancellationReasons.has(reason))
    throw invalid('cancellation_reason', `Invalid cancellation_reason: ${reason}`);
  return reason as Stripe.PaymentIntent.CancellationReason;
};

export const refunds = resource({
  type: 'refund',
  path: 'refunds',
  create: (params, act) => {
    const chargeId = text(params, 'charge');
    const intentId = text(params, 'payment_intent');
    if (!chargeId && !intentId) throw missing('charge');
    let charge: Stripe.Charge;
    if (chargeId) charge = existing(act.store, 'charge', chargeId, 'charge');
    else {
      const intent = existing(act.store, 'payment_intent', intentId as string, 'payment_intent');
      if (typeof intent.latest_charge !== 'string') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `PaymentIntent ${intent.id} does not have a successful charge to refund.`,
          'charge_not_refundable',
        );
      }
      charge = existing(act.store, 'charge', intent.latest_charge, 'payment_intent');
    }
    const reason = text(params, 'reason');
    if (reason !== null && !isRefundReason(reason)) throw invalid('reason', `Invalid reason: ${reason}`);
    return refundCharge(onClockOf(act, charge), charge, {
      amount: integer(params, 'amount'),
      reason,
      metadata: mergeMetadata({}, params.metadata),
    });
  },
  update: descriptiveUpdate('refund', 'refund.updated', () => ({})),
  matches: fieldFilter('charge', 'payment_intent'),
});

export const disputes = resource({
  type: 'dispute',
  path: 'disputes',
  update: (dispute, params, act) =>
    updateDispute(onClockOf(act, disputedCharge(act.store, dispute)), dispute, params),
  actions: {
    close: (dispute, _params, act) =>
      closeDispute(onClockOf(act, disputedCharge(act.store, dispute)), dispute, 'lost'),
  },
  matches: fieldFilter('charge', 'payment_intent'),
});

/** Test clocks: customers created on one live at its frozen time, which only moves when advanced. */
export const testClocks = resource({
  type: testClockType,
  path: 'test_helpers/test_clocks',
  create: (params, { store, context }) => {
    const frozenTime = integer(params, 'frozen_time');
    if (frozenTime === null) throw missing('frozen_time');
    return store.create(
      testClockType,
      {
        id: store.id('clock'),
        object: testClockType,
        created: store.now(),
        deletes_after: store.now() + 30 * 24 * 60 * 60,
        frozen_time: frozenTime,
        livemode: false,
        name: text(params, 'name'),
        status: 'ready',
        status_details: {},
      },
      'test_helpers.test_clock.created',
      context,
    );
  },
  // Deleting a clock deletes what lives on it: its customers' subscriptions end, then the customers go.
  remove: (clock, _params, { store, context }) => {
    const act = { store, context: { ...context, at: clock.frozen_time } };
    for (const customer of store.all('customer')) {
      if (customer.test_clock !== clock.id) continue;
      for (const subscription of store.all('subscription')) {
        const ended = subscription.status === 'canceled' || subscription.status === 'incomplete_expired';
        if (subscription.customer === customer.id && !ended) cancelSubscription(act, subscription);
      }
      store.remove('customer', customer.id, 'customer.deleted', act.context);
    }
    store.remove(testClockType, clock.id, 'test_helpers.test_clock.deleted', context);
    return { id: clock.id, object: testClockType, deleted: true };
  },
  actions: {
    advance: (clock, params, { store, context }) => {
      const frozenTime = integer(params, 'frozen_time');
      if (frozenTime === null) throw missing('frozen_time');
      return advanceTestClock(store, clock, frozenTime, context);
    },
  },
});

/** Cards (made from Stripe's test cards when used), attached to customers or not. */
export const paymentMethods = resource({
  type: 'payment_method',
  path: 'payment_methods',
  update: descriptiveUpdate('payment_method', 'payment_method.updated', () => ({})),
  actions: {
    attach: (paymentMethod, params, act) => {
      const customer = required(params, 'customer');
      existing(act.store, 'customer', customer, 'customer');
      return attachPaymentMethod(onCustomerClock(act, customer), paymentMethod, customer);
    },
    detach: (paymentMethod, _params, act) => {
      if (!paymentMethod.customer) {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `The payment method you provided is not attached to a customer so detachment is impossible.`,
          'payment_method_unexpected_state',
        );
      }
      return act.store.update(
        'payment_method',
        paymentMethod.id,
        { customer: null },
        'payment_method.detached',
        onClockOf(act, paymentMethod).context,
      );
    },
  },
  matches: fieldFilter('customer', 'type'),
});

/** What moved the balance: charges (with their fees), refunds, disputes. Read only, as in Stripe. */
export const balanceTransactions = resource({
  type: 'balance_transaction',
  path: 'balance_transactions',
  matches: fieldFilter('type', 'source', 'currency'),
});

export const billingResources: readonly Resource[] = [
  subscriptions,
  subscriptionItems,
  invoices,
  invoicePayments,
  paymentIntents,
  charges,
  refunds,
  disputes,
  testClocks,
  paymentMethods,
  balanceTransactions,
];
