import { invalid, type Params, resourceMissing, StripeApiError } from './params.js';
import {
  cancelPaymentIntent,
  confirmPaymentIntent,
  createPaymentIntent,
  day,
  existing,
  timeOf,
} from './payments.js';
import {
  type Act,
  type EmulatorStore,
  type RequestContext,
  type StripeRecord,
  testClockType,
} from './store.js';

/**
 * What time does to subscriptions: billing cycles, invoices created, finalized and collected
 * (declined ones retried), trials ending, cancellations at period end, and test clocks moving it
 * all forward. Events are emitted in Stripe's order, at the account time they happen.
 */

/**
 * The n-th boundary of a billing cycle anchored at `anchor`: months and years keep the anchor's
 * day (clamped to the end of shorter months) and time of day, as Stripe bills.
 */
export const cycleBoundary = (anchor: number, interval: string, count: number, n: number): number => {
  if (interval === 'day') return anchor + n * count * day;
  if (interval === 'week') return anchor + n * count * 7 * day;
  const date = new Date(anchor * 1000);
  const month = date.getUTCMonth() + n * count * (interval === 'year' ? 12 : 1);
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), month + 1, 0)).getUTCDate();
  return (
    Date.UTC(
      date.getUTCFullYear(),
      month,
      Math.min(date.getUTCDate(), lastDay),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    ) / 1000
  );
};

interface Recurrence {
  interval: string;
  interval_count: number;
}

const recurrenceOf = (price: StripeRecord): Recurrence => price.recurring as Recurrence;

/** The first boundary of the cycle after `time`. */
const nextBoundary = (anchor: number, recurrence: Recurrence, time: number): number => {
  let n = 1;
  while (cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, n) <= time) n += 1;
  return cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, n);
};

const planOf = (price: StripeRecord) => ({
  id: price.id,
  object: 'plan',
  active: price.active,
  amount: price.unit_amount,
  amount_decimal: price.unit_amount_decimal,
  billing_scheme: 'per_unit',
  created: price.created,
  currency: price.currency,
  interval: recurrenceOf(price).interval,
  interval_count: recurrenceOf(price).interval_count,
  livemode: false,
  metadata: price.metadata,
  meter: null,
  nickname: price.nickname,
  product: price.product,
  tiers_mode: null,
  transform_usage: null,
  trial_period_days: null,
  usage_type: 'licensed',
});

export const subscriptionItemType = 'subscription_item';

/** The items of a subscription, oldest first, as the list embedded in the subscription. */
const itemsList = (store: EmulatorStore, subscriptionId: string) => {
  const data = [...store.collection(subscriptionItemType).values()].filter(
    (item) => item.subscription === subscriptionId,
  );
  return {
    object: 'list',
    data: structuredClone(data),
    has_more: false,
    total_count: data.length,
    url: `/v1/subscription_items?subscription=${subscriptionId}`,
  };
};

export interface ItemInput {
  price: string;
  quantity: number;
}

const recurringPrice = (store: EmulatorStore, id: string, param: string): StripeRecord => {
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
  price: StripeRecord,
  quantity: number,
  period: { start: number; end: number },
  now: number,
): StripeRecord => {
  const item: StripeRecord = {
    id: store.id('si'),
    object: 'subscription_item',
    billing_thresholds: null,
    created: now,
    current_period_end: period.end,
    current_period_start: period.start,
    discounts: [],
    metadata: {},
    plan: planOf(price),
    price: structuredClone(price),
    quantity,
    subscription: subscriptionId,
    tax_rates: [],
  };
  store.collection(subscriptionItemType).set(item.id, item);
  return item;
};

const money = (amount: number, currency: string) =>
  `${currency === 'usd' ? '$' : `${currency.toUpperCase()} `}${(amount / 100).toFixed(2)}`;

/** A draft invoice for the subscription's items over a period, not stored yet. */
const subscriptionInvoice = (
  act: Act,
  subscription: StripeRecord,
  billingReason: 'subscription_create' | 'subscription_cycle',
  period: { start: number; end: number },
  trial: boolean,
  previousPeriodStart: number = period.start,
): StripeRecord => {
  const { store } = act;
  const now = timeOf(act);
  const id = store.id('in');
  const customer = store.get('customer', subscription.customer as string);
  const lines = [...store.collection(subscriptionItemType).values()]
    .filter((item) => item.subscription === subscription.id)
    .map((item) => {
      const price = item.price as StripeRecord;
      const quantity = item.quantity as number;
      const productName =
        (store.get('product', price.product as string)?.name as string | undefined) ?? 'Product';
      const amount = trial ? 0 : (price.unit_amount as number) * quantity;
      return {
        id: store.id('il'),
        object: 'line_item',
        amount,
        currency: price.currency,
        description: trial
          ? `Trial period for ${productName}`
          : `${quantity} × ${productName} (at ${money(price.unit_amount as number, price.currency as string)} / ${recurrenceOf(price).interval})`,
        discount_amounts: [],
        discountable: true,
        discounts: [],
        invoice: id,
        livemode: false,
        metadata: subscription.metadata,
        parent: {
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: false,
            proration_details: { credited_items: null },
            subscription: subscription.id,
            subscription_item: item.id,
          },
          type: 'subscription_item_details',
        },
        period,
        pretax_credit_amounts: [],
        pricing: {
          price_details: { price: price.id, product: price.product },
          type: 'price_details',
          unit_amount_decimal: price.unit_amount_decimal,
        },
        quantity,
        taxes: [],
      };
    });
  const total = lines.reduce((sum, line) => sum + line.amount, 0);
  return {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Payfold emulator',
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: billingReason,
    collection_method: 'charge_automatically',
    created: now,
    currency: subscription.currency,
    custom_fields: null,
    customer: subscription.customer,
    customer_account: null,
    customer_address: null,
    customer_email: customer?.email ?? null,
    customer_name: customer?.name ?? null,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: {
      object: 'list',
      data: lines,
      has_more: false,
      total_count: lines.length,
      url: `/v1/invoices/${id}/lines`,
    },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: {
      quote_details: null,
      subscription_details: { metadata: subscription.metadata, subscription: subscription.id },
      type: 'subscription_details',
    },
    period_end: billingReason === 'subscription_create' ? now : period.start,
    period_start: billingReason === 'subscription_create' ? now : previousPeriodStart,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: customer?.test_clock ?? null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
};

export const invoicePaymentType = 'invoice_payment';

const assertInvoiceOpen = (invoice: StripeRecord, action: 'paid' | 'voided') => {
  if (invoice.status !== 'open') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Invoice ${invoice.id} is ${invoice.status}; only open invoices can be ${action}.`,
      'invoice_not_open',
    );
  }
};

/** The invoice's default payment: its link to the payment intent that collects it. */
export const invoicePaymentOf = (store: EmulatorStore, invoiceId: string): StripeRecord | undefined =>
  [...store.collection(invoicePaymentType).values()].find(
    (payment) => payment.invoice === invoiceId && payment.is_default,
  );

/**
 * Finalizes a draft invoice (`invoice.finalized`): it gets a number and, when there is something
 * to pay, a payment intent (`payment_intent.created`) and an open invoice payment linking the two.
 */
export const finalizeInvoice = (act: Act, invoice: StripeRecord): StripeRecord => {
  if (invoice.status !== 'draft') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `This invoice is already finalized (status ${invoice.status}).`,
      'invoice_not_editable',
    );
  }
  const { store } = act;
  const now = timeOf(act);
  if ((invoice.amount_due as number) > 0) {
    const intent = createPaymentIntent(act, {
      amount: invoice.amount_due as number,
      currency: invoice.currency as string,
      customer: invoice.customer as string,
      description:
        invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
      metadata: {},
      paymentMethod: null,
    });
    store.create(
      invoicePaymentType,
      {
        id: store.id('inpay'),
        object: 'invoice_payment',
        amount_paid: null,
        amount_requested: invoice.amount_due,
        created: now,
        currency: invoice.currency,
        invoice: invoice.id,
        is_default: true,
        livemode: false,
        payment: { payment_intent: intent.id, type: 'payment_intent' },
        status: 'open',
        status_transitions: { canceled_at: null, paid_at: null },
      },
      null,
      act.context,
    );
  }
  // Numbers come from the customer's own sequence, as Stripe's do (no scan of every invoice).
  const customer = store.get('customer', invoice.customer as string);
  const sequence = (customer?.next_invoice_sequence as number | undefined) ?? 1;
  if (customer)
    store.update('customer', customer.id, { next_invoice_sequence: sequence + 1 }, null, act.context);
  return store.update(
    'invoice',
    invoice.id,
    {
      status: 'open',
      number: `${(customer?.invoice_prefix as string | undefined) ?? 'EMULATOR'}-${String(sequence).padStart(4, '0')}`,
      effective_at: now,
      hosted_invoice_url: `https://invoice.stripe.com/i/acct_emulator/test_${invoice.id}`,
      invoice_pdf: `https://pay.stripe.com/invoice/acct_emulator/test_${invoice.id}/pdf`,
      ending_balance: 0,
      next_payment_attempt: (invoice.amount_due as number) > 0 ? now : null,
      status_transitions: { ...(invoice.status_transitions as Params), finalized_at: now },
    },
    'invoice.finalized',
    act.context,
  );
};

const paidInvoice = (act: Act, invoice: StripeRecord): StripeRecord => {
  const now = timeOf(act);
  const paid = act.store.update(
    'invoice',
    invoice.id,
    {
      status: 'paid',
      amount_paid: invoice.amount_due,
      amount_remaining: 0,
      attempted: true,
      attempt_count: (invoice.attempt_count as number) + ((invoice.amount_due as number) > 0 ? 1 : 0),
      next_payment_attempt: null,
      status_transitions: { ...(invoice.status_transitions as Params), paid_at: now },
    },
    'invoice.paid',
    act.context,
  );
  act.store.emit('invoice.payment_succeeded', paid, undefined, act.context);
  return paid;
};

/** The payment method an invoice is charged with: the subscription's, else the customer's default. */
const invoicePaymentMethod = (store: EmulatorStore, invoice: StripeRecord): string | null => {
  const parent = invoice.parent as { subscription_details?: { subscription?: string } } | null;
  const subscription = parent?.subscription_details?.subscription
    ? store.get('subscription', parent.subscription_details.subscription)
    : undefined;
  const customer = store.get('customer', invoice.customer as string);
  return (
    (subscription?.default_payment_method as string | null | undefined) ??
    ((customer?.invoice_settings as Params | undefined)?.default_payment_method as
      | string
      | null
      | undefined) ??
    null
  );
};

/**
 * One attempt to collect an open invoice. Paid: `invoice_payment.paid`, `invoice.paid` and
 * `invoice.payment_succeeded` after the payment intent's events. Declined (or no payment method):
 * `invoice.payment_failed`, with the next attempt at `retryAt` (none when null).
 */
export const attemptInvoicePayment = (
  act: Act,
  invoice: StripeRecord,
  paymentMethod: string | null,
  retryAt: number | null,
): boolean => {
  assertInvoiceOpen(invoice, 'paid');
  const { store } = act;
  if ((invoice.amount_due as number) === 0) {
    paidInvoice(act, invoice);
    return true;
  }
  const payment = invoicePaymentOf(store, invoice.id) as StripeRecord;
  const intent = store.get('payment_intent', (payment.payment as { payment_intent: string }).payment_intent);
  const method = paymentMethod ?? invoicePaymentMethod(store, invoice);
  const succeeded = intent && method ? confirmPaymentIntent(act, intent, method).succeeded : false;
  if (succeeded) {
    const now = timeOf(act);
    store.update(
      invoicePaymentType,
      payment.id,
      {
        status: 'paid',
        amount_paid: payment.amount_requested,
        status_transitions: { canceled_at: null, paid_at: now },
      },
      'invoice_payment.paid',
      act.context,
    );
    paidInvoice(act, invoice);
    return true;
  }
  store.update(
    'invoice',
    invoice.id,
    {
      attempted: true,
      attempt_count: (invoice.attempt_count as number) + 1,
      next_payment_attempt: retryAt,
    },
    'invoice.payment_failed',
    act.context,
  );
  return false;
};

export const voidInvoice = (act: Act, invoice: StripeRecord): StripeRecord => {
  assertInvoiceOpen(invoice, 'voided');
  const payment = invoicePaymentOf(act.store, invoice.id);
  if (payment) {
    act.store.update(
      invoicePaymentType,
      payment.id,
      { status: 'canceled', status_transitions: { canceled_at: timeOf(act), paid_at: null } },
      null,
      act.context,
    );
    const intent = act.store.get(
      'payment_intent',
      (payment.payment as { payment_intent: string }).payment_intent,
    );
    if (intent && intent.status !== 'succeeded' && intent.status !== 'canceled')
      cancelPaymentIntent(act, intent, 'void_invoice');
  }
  return act.store.update(
    'invoice',
    invoice.id,
    {
      status: 'void',
      amount_remaining: 0,
      next_payment_attempt: null,
      status_transitions: { ...(invoice.status_transitions as Params), voided_at: timeOf(act) },
    },
    'invoice.voided',
    act.context,
  );
};

// ---------------------------------------------------------------------------------------------
// Subscriptions

const assertSameInterval = (prices: StripeRecord[]) => {
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
}

export const subscriptionChanged = (act: Act, subscription: StripeRecord, changes: Record<string, unknown>) =>
  act.store.update('subscription', subscription.id, changes, 'customer.subscription.updated', act.context);

/** A subscription's open invoice still being collected, if any. */
export const latestInvoice = (store: EmulatorStore, subscription: StripeRecord): StripeRecord | undefined =>
  typeof subscription.latest_invoice === 'string'
    ? store.get('invoice', subscription.latest_invoice)
    : undefined;

/**
 * Creates a subscription as Stripe does for `charge_automatically`: `customer.subscription.created`
 * (`incomplete`, or `trialing`), its first invoice created, finalized and paid (the payment's
 * events in between), then `customer.subscription.updated` to `active`. A declined first payment
 * leaves it `incomplete` with an open invoice.
 */
export const createSubscription = (act: Act, input: SubscriptionInput): StripeRecord => {
  const { store } = act;
  const customer = existing(store, 'customer', input.customer, 'customer');
  if (input.items.length === 0) throw invalid('items', 'Missing required param: items.');
  const prices = input.items.map((item, index) =>
    recurringPrice(store, item.price, `items[${index}][price]`),
  );
  const recurrence = recurrenceOf(prices[0] as StripeRecord);
  assertSameInterval(prices);
  const now = timeOf(act);
  const trial = input.trialEnd !== null && input.trialEnd > now;
  const anchor = trial ? (input.trialEnd as number) : now;
  const period = {
    start: now,
    end: trial ? anchor : cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, 1),
  };
  const id = store.id('sub');
  input.items.forEach((item, index) => {
    newItem(store, id, prices[index] as StripeRecord, item.quantity, period, now);
  });
  const record: StripeRecord = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: anchor,
    billing_cycle_anchor_config: null,
    billing_schedules: [],
    billing_mode: { type: 'classic' },
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency: (prices[0] as StripeRecord).currency,
    customer: customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: input.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, issuer: { type: 'self' } },
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
    trial_settings: { end_behavior: { missing_payment_method: 'create_invoice' } },
    trial_start: trial ? now : null,
  };
  const draft = subscriptionInvoice(act, record, 'subscription_create', period, trial);
  // The created event already names the first invoice, emitted right after it.
  record.latest_invoice = draft.id;
  const subscription = store.create('subscription', record, 'customer.subscription.created', act.context);
  const invoice = finalizeInvoice(act, store.create('invoice', draft, 'invoice.created', act.context));
  if (input.paymentBehavior === 'default_incomplete' && !trial) return subscription;
  const paid = attemptInvoicePayment(act, invoice, null, null);
  if (paid && !trial) return subscriptionChanged(act, subscription, { status: 'active' });
  return subscription;
};

const assertNotEnded = (subscription: StripeRecord) => {
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
const periodOf = (subscription: StripeRecord) => {
  // The embedded list is rewritten with every change of the items, so it is current here, and
  // reading it keeps a clock's advance from scanning every item of the account at each step.
  const items = (subscription.items as { data: StripeRecord[] }).data;
  return {
    start: Math.min(...items.map((item) => item.current_period_start as number)),
    end: Math.min(...items.map((item) => item.current_period_end as number)),
  };
};

export interface SubscriptionChange {
  /** Items to change (`id` with `price` and/or `quantity`, or `deleted`) or add (no `id`). */
  items: Array<{ id: string | null; price: string | null; quantity: number | null; deleted: boolean }>;
  cancelAtPeriodEnd: boolean | null;
  metadata: Record<string, string> | null;
  defaultPaymentMethod: string | null | undefined;
}

/**
 * Changes a subscription's items, cancellation at period end, metadata or payment method:
 * one `customer.subscription.updated` with the old values in `previous_attributes`. Price and
 * quantity changes take effect from the next invoice (the emulator does not prorate).
 */
export const updateSubscription = (
  act: Act,
  subscription: StripeRecord,
  change: SubscriptionChange,
): StripeRecord => {
  const { store } = act;
  const now = timeOf(act);
  const changes: Record<string, unknown> = {};
  if (change.items.length > 0 || change.cancelAtPeriodEnd !== null) assertNotEnded(subscription);
  if (change.items.length > 0) {
    // Every entry is checked on copies before any item changes, so a refused request changes nothing.
    const kept = new Map(itemsList(store, subscription.id).data.map((item) => [item.id, item]));
    const added: Array<{ price: StripeRecord; quantity: number }> = [];
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
    const prices = [...kept.values(), ...added].map((item) => item.price as StripeRecord);
    if (prices.length === 0) throw invalid('items', 'A subscription must keep at least one item.');
    assertSameInterval(prices);
    const period = periodOf(subscription);
    const collection = store.collection(subscriptionItemType);
    for (const item of itemsList(store, subscription.id).data) {
      if (!kept.has(item.id)) collection.delete(item.id);
    }
    for (const item of kept.values()) collection.set(item.id, item);
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
            cancellation_details: { comment: null, feedback: null, reason: 'cancellation_requested' },
          }
        : {
            cancel_at_period_end: false,
            cancel_at: null,
            canceled_at: null,
            cancellation_details: { comment: null, feedback: null, reason: null },
          },
    );
  }
  if (change.metadata) changes.metadata = change.metadata;
  if (change.defaultPaymentMethod !== undefined) changes.default_payment_method = change.defaultPaymentMethod;
  return subscriptionChanged(act, subscription, changes);
};

/** Ends a subscription now: `customer.subscription.deleted`, status `canceled`. */
export const cancelSubscription = (
  act: Act,
  subscription: StripeRecord,
  reason: 'cancellation_requested' | 'payment_failed' = 'cancellation_requested',
): StripeRecord => {
  assertNotEnded(subscription);
  const now = timeOf(act);
  const canceled = act.store.update(
    'subscription',
    subscription.id,
    {
      status: 'canceled',
      canceled_at: subscription.canceled_at ?? now,
      ended_at: now,
      cancellation_details: { comment: null, feedback: null, reason },
    },
    null,
    act.context,
  );
  act.store.emit('customer.subscription.deleted', canceled, undefined, act.context);
  return canceled;
};

/** After a declined renewal, Stripe retries 3, 5 and 7 days after the first attempt, then gives up. */
const retryDelays = [3 * day, 2 * day, 2 * day];

/** The subscription's state once its latest invoice is paid or declined at `now`. */
const afterCollection = (act: Act, subscription: StripeRecord, paid: boolean): StripeRecord => {
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
export const payInvoice = (act: Act, invoice: StripeRecord, paymentMethod: string | null): StripeRecord => {
  const paid = attemptInvoicePayment(act, invoice, paymentMethod, null);
  const subscriptionId = (invoice.parent as { subscription_details?: { subscription?: string } } | null)
    ?.subscription_details?.subscription;
  const subscription = subscriptionId ? act.store.get('subscription', subscriptionId) : undefined;
  if (!paid) {
    throw new StripeApiError(402, 'card_error', 'Your card was declined.', 'card_declined');
  }
  if (subscription && subscription.status !== 'canceled') afterCollection(act, subscription, true);
  return act.store.get('invoice', invoice.id) as StripeRecord;
};

/** A period ends: the subscription ends if it was to, else renews and bills the next period. */
const renew = (act: Act, subscription: StripeRecord) => {
  const { store } = act;
  const now = timeOf(act);
  if (subscription.cancel_at != null && (subscription.cancel_at as number) <= now) {
    cancelSubscription(act, subscription);
    return;
  }
  const previous = periodOf(subscription);
  const recurrence = recurrenceOf(itemsList(store, subscription.id).data[0]?.price as StripeRecord);
  const period = {
    start: now,
    end: nextBoundary(subscription.billing_cycle_anchor as number, recurrence, now),
  };
  for (const item of store.collection(subscriptionItemType).values()) {
    if (item.subscription !== subscription.id) continue;
    item.current_period_start = period.start;
    item.current_period_end = period.end;
  }
  const draft = subscriptionInvoice(act, subscription, 'subscription_cycle', period, false, previous.start);
  const renewed = subscriptionChanged(act, subscription, {
    items: itemsList(store, subscription.id),
    latest_invoice: draft.id,
    ...(subscription.status === 'trialing' ? { status: 'active' } : {}),
  });
  const invoice = finalizeInvoice(act, store.create('invoice', draft, 'invoice.created', act.context));
  const paid = attemptInvoicePayment(act, invoice, null, (retryDelays[0] as number) + now);
  afterCollection(act, renewed, paid);
};

/** A scheduled retry of a declined renewal; after the last one the subscription is canceled. */
const retry = (act: Act, subscription: StripeRecord, invoice: StripeRecord) => {
  const attempts = invoice.attempt_count as number;
  const delay = retryDelays[attempts];
  const paid = attemptInvoicePayment(act, invoice, null, delay === undefined ? null : timeOf(act) + delay);
  if (paid) afterCollection(act, subscription, true);
  else if (delay === undefined) cancelSubscription(act, subscription, 'payment_failed');
};

/** A first invoice left unpaid for 23 hours: the subscription expires and its invoice is voided. */
const expire = (act: Act, subscription: StripeRecord) => {
  const invoice = latestInvoice(act.store, subscription);
  if (invoice?.status === 'open') voidInvoice(act, invoice);
  const expired = act.store.update(
    'subscription',
    subscription.id,
    { status: 'incomplete_expired', ended_at: timeOf(act) },
    null,
    act.context,
  );
  act.store.emit('customer.subscription.deleted', expired, undefined, act.context);
};

interface DueChange {
  /** Names the change, so that each happens once. */
  key: string;
  at: number;
  subscription: StripeRecord;
  run: (act: Act) => void;
}

/** What time will do to a subscription, each change at the second it is due. */
const dueChanges = (store: EmulatorStore, subscription: StripeRecord): DueChange[] => {
  const changes: DueChange[] = [];
  const due = (kind: string, at: number, run: (act: Act) => void) =>
    changes.push({ key: `${subscription.id}/${kind}/${at}`, at, subscription, run });
  const status = subscription.status as string;
  if (status === 'incomplete') {
    due('expire', (subscription.created as number) + 23 * 60 * 60, (act) => expire(act, subscription));
  }
  if (status === 'trialing' && subscription.trial_end != null) {
    due('trial_will_end', (subscription.trial_end as number) - 3 * day, (act) =>
      act.store.emit('customer.subscription.trial_will_end', subscription, undefined, act.context),
    );
  }
  if (status === 'active' || status === 'trialing' || status === 'past_due') {
    due('renew', periodOf(subscription).end, (act) => renew(act, subscription));
    if (subscription.cancel_at != null) {
      due('cancel', subscription.cancel_at as number, (act) => cancelSubscription(act, subscription));
    }
    const invoice = latestInvoice(store, subscription);
    if (status === 'past_due' && invoice?.status === 'open' && invoice.next_payment_attempt != null) {
      due('retry', invoice.next_payment_attempt as number, (act) => retry(act, subscription, invoice));
    }
  }
  return changes;
};

const automatic: RequestContext = { requestId: null, idempotencyKey: null };

/**
 * Moves a test clock forward, doing on the way what time does to its customers' subscriptions,
 * in time order: trial ending warnings, renewals with their invoices (declined ones retried, then
 * the subscription canceled), cancellations at period end, unpaid first invoices expiring. Emits
 * `test_helpers.test_clock.advancing`, the changes' events at the times they happen, then `.ready`.
 */
export const advanceTestClock = (
  store: EmulatorStore,
  clock: StripeRecord,
  frozenTime: number,
  context: RequestContext,
): StripeRecord => {
  const from = clock.frozen_time as number;
  if (frozenTime <= from) {
    throw invalid(
      'frozen_time',
      'The test clock can only be advanced to a time after its current frozen_time.',
    );
  }
  if (frozenTime > from + 2 * 366 * day) {
    throw invalid('frozen_time', 'A test clock can advance at most two years at a time.');
  }
  store.update(
    testClockType,
    clock.id,
    { status: 'advancing', status_details: { advancing: { target_frozen_time: frozenTime } } },
    'test_helpers.test_clock.advancing',
    { ...context, at: from },
  );
  const customers = new Set(
    [...store.collection('customer').values()]
      .filter((customer) => customer.test_clock === clock.id)
      .map((customer) => customer.id),
  );
  const done = new Set<string>();
  for (let step = 0; step < 10_000; step += 1) {
    const due = [...store.collection('subscription').values()]
      .filter((subscription) => customers.has(subscription.customer as string))
      .flatMap((subscription) => dueChanges(store, subscription))
      .filter((change) => change.at > from && change.at <= frozenTime && !done.has(change.key))
      .sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1))[0];
    if (!due) break;
    done.add(due.key);
    const now = due.at;
    store.update(testClockType, clock.id, { frozen_time: now }, null, { ...automatic, at: now });
    due.run({ store, context: { ...automatic, at: now } });
  }
  return store.update(
    testClockType,
    clock.id,
    { frozen_time: frozenTime, status: 'ready', status_details: {} },
    'test_helpers.test_clock.ready',
    { ...context, at: frozenTime },
  );
};
