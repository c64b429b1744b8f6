import type Stripe from 'stripe';
import { cycleBoundary, planOf, recurrenceOf } from './billing-cycles.js';
import {
  announceDiscounts,
  type DiscountInput,
  removeDiscounts,
  subscriptionDiscounts,
} from './discounts.js';
import { attemptInvoicePayment, finalizeInvoice, subscriptionInvoice } from './invoices.js';
import { embeddedList } from './lists.js';
import { invalid, resourceMissing, StripeApiError } from './params.js';
import { day, existing, timeOf } from './payments.js';
import { type Act, type EmulatorStore, referencedId, subscriptionItemType } from './store.js';

/**
 * Subscriptions and their items: created, changed, canceled, and what collecting their invoices
 * does to them (billing cycles, invoices and test clocks have files of their own). Events are
 * emitted in Stripe's order, at the account time they happen.
 */

/** The items of a subscription, oldest first, as the list embedded in the subscription. */
export const itemsList = (
  store: EmulatorStore,
  subscriptionId: string,
): Stripe.ApiList<Stripe.SubscriptionItem> => {
  const data = store.all(subscriptionItemType).filter((item) => item.subscription === subscriptionId);
  return embeddedList(structuredClone(data), `/v1/subscription_items?subscription=${subscriptionId}`);
};

export interface ItemInput {
  price: string;
  quantity: number;
}

const recurringPrice = (store: EmulatorStore, id: string, param: string): Stripe.Price => {
  const price = existing(store, 'price', id, param);
  if (price.type !== 'recurring') {
    throw invalid(
      param,
      `The price specified (${id}) is not a recurring price; subscriptions need recurring prices.`,
    );
  }
  return price;
};

const newItem = (
  store: EmulatorStore,
  subscriptionId: string,
  price: Stripe.Price,
  quantity: number,
  period: { start: number; end: number },
  now: number,
): Stripe.SubscriptionItem =>
  store.put(subscriptionItemType, {
    id: store.id('si'),
    object: 'subscription_item',
    billing_thresholds: null,
    created: now,
    current_period_end: period.end,
    current_trial: null,
    current_period_start: period.start,
    discounts: [],
    metadata: {},
    plan: planOf(price),
    price: structuredClone(price),
    quantity,
    subscription: subscriptionId,
    tax_rates: [],
  });

const assertSameInterval = (prices: Stripe.Price[]) => {
  const [first] = prices.map(recurrenceOf);
  const same = prices.every(
    (price) =>
      recurrenceOf(price).interval === first?.interval &&
      recurrenceOf(price).interval_count === first?.interval_count,
  );
  if (!same) {
    throw invalid(
      'items',
      'All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.',
    );
  }
};

export interface SubscriptionInput {
  customer: string;
  items: ItemInput[];
  metadata: Record<string, string>;
  defaultPaymentMethod: string | null;
  trialEnd: number | null;
  /** `allow_incomplete` charges now and keeps a declined subscription `incomplete`; `default_incomplete` does not charge. */
  paymentBehavior: 'allow_incomplete' | 'default_incomplete';
  discounts: DiscountInput[];
}

export const subscriptionChanged = (
  act: Act,
  subscription: Stripe.Subscription,
  changes: Partial<Stripe.Subscription>,
): Stripe.Subscription =>
  act.store.update('subscription', subscription.id, changes, 'customer.subscription.updated', act.context);

/** A subscription's open invoice still being collected, if any. */
export const latestInvoice = (
  store: EmulatorStore,
  subscription: Stripe.Subscription,
): Stripe.Invoice | undefined =>
  typeof subscription.latest_invoice === 'string'
    ? store.get('invoice', subscription.latest_invoice)
    : undefined;

/**
 * Creates a subscription as Stripe does for `charge_automatically`: `customer.subscription.created`
 * (`incomplete`, or `trialing`), its first invoice created, finalized and paid (the payment's
 * events in between), then `customer.subscription.updated` to `active`. A declined first payment
 * leaves it `incomplete` with an open invoice.
 */
export const createSubscription = (act: Act, input: SubscriptionInput): Stripe.Subscription => {
  const { store } = act;
  const customer = existing(store, 'customer', input.customer, 'customer');
  if (input.items.length === 0) throw invalid('items', 'Missing required param: items.');
  const prices = input.items.map((item, index) =>
    recurringPrice(store, item.price, `items[${index}][price]`),
  );
  const [firstPrice] = prices as [Stripe.Price, ...Stripe.Price[]];
  const recurrence = recurrenceOf(firstPrice);
  assertSameInterval(prices);
  const now = timeOf(act);
  const trial = input.trialEnd !== null && input.trialEnd > now;
  const anchor = trial && input.trialEnd !== null ? input.trialEnd : now;
  const period = {
    start: now,
    end: trial ? anchor : cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, 1),
  };
  const id = store.id('sub');
  // Made and stored before the first invoice, which they take their part off; announced after the subscription.
  const discounts = subscriptionDiscounts(act, input.discounts, {
    customer: customer.id,
    subscription: id,
    firstPeriodEnd: period.end,
  });
  for (const discount of discounts) store.put('discount', discount);
  input.items.forEach((item, index) => {
    newItem(store, id, prices[index] ?? firstPrice, item.quantity, period, now);
  });
  const record: Stripe.Subscription = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: anchor,
    billing_cycle_anchor_config: null,
    billing_schedules: [],
    billing_mode: { flexible: null, type: 'classic' },
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency: firstPrice.currency,
    customer: customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: input.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: discounts.map((discount) => discount.id),
    ended_at: null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' },
    },
    items: itemsList(store, id),
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: trial ? 'trialing' : 'incomplete',
    test_clock: customer.test_clock ?? null,
    transfer_data: null,
    trial_end: trial ? anchor : null,
    trial_settings: {
      end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' },
    },
    trial_start: trial ? now : null,
  };
  const draft = subscriptionInvoice(act, record, 'subscription_create', period, trial);
  // The created event already names the first invoice, emitted right after it.
  record.latest_invoice = draft.id;
  const subscription = store.create('subscription', record, 'customer.subscription.created', act.context);
  announceDiscounts(act, discounts);
  const invoice = finalizeInvoice(act, store.create('invoice', draft, 'invoice.created', act.context));
  if (input.paymentBehavior === 'default_incomplete' && !trial) return subscription;
  const paid = attemptInvoicePayment(act, invoice, null, null);
  if (paid && !trial) return subscriptionChanged(act, subscription, { status: 'active' });
  return subscription;
};

const assertNotEnded = (subscription: Stripe.Subscription) => {
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      'A canceled subscription can only update its cancellation_details and metadata.',
      'subscription_canceled',
    );
  }
};

/** The subscription's current period: from the earliest item start to the end of the item ending first. */
export const periodOf = (subscription: Stripe.Subscription) => {
  // The embedded list is rewritten with every change of the items, so it is current here, and
  // reading it keeps a clock's advance from scanning every item of the account at each step.
  const items = subscription.items.data;
  return {
    start: Math.min(...items.map((item) => item.current_period_start)),
    end: Math.min(...items.map((item) => item.current_period_end)),
  };
};

export interface SubscriptionChange {
  /** Items to change (`id` with `price` and/or `quantity`, or `deleted`) or add (no `id`). */
  items: Array<{ id: string | null; price: string | null; quantity: number | null; deleted: boolean }>;
  cancelAtPeriodEnd: boolean | null;
  metadata: Record<string, string> | null;
  defaultPaymentMethod: string | null | undefined;
  /** New discounts, replacing the subscription's (undefined: unchanged). */
  discounts?: DiscountInput[];
}

/**
 * Changes a subscription's items, cancellation at period end, metadata or payment method:
 * one `customer.subscription.updated` with the old values in `previous_attributes`. Price and
 * quantity changes take effect from the next invoice (the emulator does not prorate).
 */
export const updateSubscription = (
  act: Act,
  subscription: Stripe.Subscription,
  change: SubscriptionChange,
): Stripe.Subscription => {
  const { store } = act;
  const now = timeOf(act);
  const changes: Partial<Stripe.Subscription> = {};
  if (change.items.length > 0 || change.cancelAtPeriodEnd !== null) assertNotEnded(subscription);
  if (change.items.length > 0) {
    // Every entry is checked on copies before any item changes, so a refused request changes nothing.
    const kept = new Map(itemsList(store, subscription.id).data.map((item) => [item.id, item]));
    const added: Array<{ price: Stripe.Price; quantity: number }> = [];
    change.items.forEach((entry, index) => {
      if (entry.id === null) {
        if (!entry.price) throw invalid(`items[${index}][price]`, 'Missing required param: price.');
        const price = recurringPrice(store, entry.price, `items[${index}][price]`);
        added.push({ price, quantity: entry.quantity ?? 1 });
        return;
      }
      const item = kept.get(entry.id);
      if (!item) throw resourceMissing('subscription_item', entry.id, `items[${index}][id]`);
      if (entry.deleted) {
        kept.delete(entry.id);
        return;
      }
      if (entry.price) {
        const price = recurringPrice(store, entry.price, `items[${index}][price]`);
        item.price = structuredClone(price);
        item.plan = planOf(price);
      }
      if (entry.quantity !== null) item.quantity = entry.quantity;
    });
    const prices = [...kept.values(), ...added].map((item) => item.price);
    if (prices.length === 0) throw invalid('items', 'A subscription must keep at least one item.');
    assertSameInterval(prices);
    const period = periodOf(subscription);
    for (const item of itemsList(store, subscription.id).data) {
      if (!kept.has(item.id)) store.drop(subscriptionItemType, item.id);
    }
    for (const item of kept.values()) store.put(subscriptionItemType, item);
    for (const { price, quantity } of added) newItem(store, subscription.id, price, quantity, period, now);
    changes.items = itemsList(store, subscription.id);
  }
  if (change.cancelAtPeriodEnd !== null) {
    Object.assign(
      changes,
      change.cancelAtPeriodEnd
        ? {
            cancel_at_period_end: true,
            cancel_at: periodOf(subscription).end,
            canceled_at: now,
            cancellation_details: {
              comment: null,
              feedback: null,
              feedback_option: null,
              reason: 'cancellation_requested' as const,
            },
          }
        : {
            cancel_at_period_end: false,
            cancel_at: null,
            canceled_at: null,
            cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
          },
    );
  }
  if (change.metadata) changes.metadata = change.metadata;
  if (change.defaultPaymentMethod !== undefined) changes.default_payment_method = change.defaultPaymentMethod;
  let added: Stripe.Discount[] = [];
  if (change.discounts !== undefined) {
    added = subscriptionDiscounts(act, change.discounts, {
      customer: referencedId(subscription.customer) as string,
      subscription: subscription.id,
      firstPeriodEnd: periodOf(subscription).end,
    });
    removeDiscounts(
      act,
      subscription.discounts.map((reference) => referencedId(reference) as string),
    );
    for (const discount of added) store.put('discount', discount);
    changes.discounts = added.map((discount) => discount.id);
  }
  const changed = subscriptionChanged(act, subscription, changes);
  announceDiscounts(act, added);
  return changed;
};

/** Ends a subscription now: `customer.subscription.deleted`, status `canceled`. */
export const cancelSubscription = (
  act: Act,
  subscription: Stripe.Subscription,
  reason: 'cancellation_requested' | 'payment_failed' = 'cancellation_requested',
): Stripe.Subscription => {
  assertNotEnded(subscription);
  const now = timeOf(act);
  const canceled = act.store.update(
    'subscription',
    subscription.id,
    {
      status: 'canceled',
      canceled_at: subscription.canceled_at ?? now,
      ended_at: now,
      cancellation_details: { comment: null, feedback: null, feedback_option: null, reason },
    },
    null,
    act.context,
  );
  act.store.emit('customer.subscription.deleted', canceled, undefined, act.context);
  return canceled;
};

/** After a declined renewal, Stripe retries 3, 5 and 7 days after the first attempt, then gives up. */
export const retryDelays = [3 * day, 2 * day, 2 * day];

/** The subscription's state once its latest invoice is paid or declined at `now`. */
export const afterCollection = (
  act: Act,
  subscription: Stripe.Subscription,
  paid: boolean,
): Stripe.Subscription => {
  if (paid) {
    return subscription.status === 'active' || subscription.status === 'trialing'
      ? subscription
      : subscriptionChanged(act, subscription, { status: 'active' });
  }
  return subscription.status === 'past_due' || subscription.status === 'incomplete'
    ? subscription
    : subscriptionChanged(act, subscription, { status: 'past_due' });
};

/**
 * Pays an open invoice on request (`POST /v1/invoices/:id/pay`), bringing an `incomplete` or
 * `past_due` subscription back to `active`.
 */
export const payInvoice = (
  act: Act,
  invoice: Stripe.Invoice,
  paymentMethod: string | null,
): Stripe.Invoice => {
  const paid = attemptInvoicePayment(act, invoice, paymentMethod, null);
  const subscriptionId = invoice.parent?.subscription_details?.subscription;
  const subscription =
    typeof subscriptionId === 'string' ? act.store.get('subscription', subscriptionId) : undefined;
  if (!paid) {
    throw new StripeApiError(402, 'card_error', 'Your card was declined.', 'card_declined');
  }
  if (subscription && subscription.status !== 'canceled') afterCollection(act, subscription, true);
  return existing(act.store, 'invoice', invoice.id, 'invoice');
};
