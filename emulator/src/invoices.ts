import type Stripe from 'stripe';
import { recurrenceOf } from './billing-cycles.js';
import { discountAmounts } from './discounts.js';
import { embeddedList } from './lists.js';
import { StripeApiError } from './params.js';
import { cancelPaymentIntent, confirmPaymentIntent, createPaymentIntent, timeOf } from './payments.js';
import {
  type Act,
  type EmulatorStore,
  invoicePaymentType,
  referencedId,
  subscriptionItemType,
  wireDecimal,
} from './store.js';

/** A subscription's invoices: created, finalized, collected (declined ones retried), voided. */

export const money = (amount: number, currency: string) =>
  `${currency === 'usd' ? '$' : `${currency.toUpperCase()} `}${(amount / 100).toFixed(2)}`;

/** A draft invoice for the subscription's items over a period, not stored yet. */
export const subscriptionInvoice = (
  act: Act,
  subscription: Stripe.Subscription,
  billingReason: 'subscription_create' | 'subscription_cycle' | 'upcoming',
  period: { start: number; end: number },
  trial: boolean,
  previousPeriodStart: number = period.start,
): Stripe.Invoice => {
  const { store } = act;
  const now = timeOf(act);
  const id = store.id('in');
  const customer = store.get('customer', referencedId(subscription.customer) ?? '');
  const lines = store
    .all(subscriptionItemType)
    .filter((item) => item.subscription === subscription.id)
    .map((item): Stripe.InvoiceLineItem => {
      const price = item.price;
      const quantity = item.quantity ?? 1;
      const productName = store.get('product', referencedId(price.product) ?? '')?.name ?? 'Product';
      const unitAmount = price.unit_amount ?? 0;
      const amount = trial ? 0 : unitAmount * quantity;
      return {
        id: store.id('il'),
        object: 'line_item',
        amount,
        currency: price.currency,
        description: trial
          ? `Trial period for ${productName}`
          : `${quantity} × ${productName} (at ${money(unitAmount, price.currency)} / ${recurrenceOf(price).interval})`,
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
          price_details: { price: price.id, product: referencedId(price.product) ?? '' },
          type: 'price_details',
          unit_amount_decimal: price.unit_amount_decimal,
        },
        quantity,
        quantity_decimal: wireDecimal(String(quantity)),
        subscription: subscription.id,
        subtotal: amount,
        taxes: [],
      };
    });
  const subtotal = lines.reduce((sum, line) => sum + line.amount, 0);
  const discounted = discountAmounts(store, subscription, subtotal);
  const total = subtotal - discounted.reduce((sum, entry) => sum + entry.amount, 0);
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
    discounts: discounted.map((entry) => referencedId(entry.discount) as string),
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
    lines: embeddedList(lines, `/v1/invoices/${id}/lines`),
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
    subtotal,
    subtotal_excluding_tax: subtotal,
    test_clock: customer?.test_clock ?? null,
    total,
    total_discount_amounts: discounted,
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
};

const assertInvoiceOpen = (invoice: Stripe.Invoice, action: 'paid' | 'voided') => {
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
export const invoicePaymentOf = (
  store: EmulatorStore,
  invoiceId: string,
): Stripe.InvoicePayment | undefined =>
  store.all(invoicePaymentType).find((payment) => payment.invoice === invoiceId && payment.is_default);

/**
 * Finalizes a draft invoice (`invoice.finalized`): it gets a number and, when there is something
 * to pay, a payment intent (`payment_intent.created`) and an open invoice payment linking the two.
 */
export const finalizeInvoice = (act: Act, invoice: Stripe.Invoice): Stripe.Invoice => {
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
  if (invoice.amount_due > 0) {
    const intent = createPaymentIntent(act, {
      amount: invoice.amount_due,
      currency: invoice.currency,
      customer: referencedId(invoice.customer),
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
  const customer = store.get('customer', referencedId(invoice.customer) ?? '');
  const sequence = customer?.next_invoice_sequence ?? 1;
  if (customer)
    store.update('customer', customer.id, { next_invoice_sequence: sequence + 1 }, null, act.context);
  return store.update(
    'invoice',
    invoice.id,
    {
      status: 'open',
      number: `${customer?.invoice_prefix ?? 'EMULATOR'}-${String(sequence).padStart(4, '0')}`,
      effective_at: now,
      hosted_invoice_url: `https://invoice.stripe.com/i/acct_emulator/test_${invoice.id}`,
      invoice_pdf: `https://pay.stripe.com/invoice/acct_emulator/test_${invoice.id}/pdf`,
      ending_balance: 0,
      next_payment_attempt: invoice.amount_due > 0 ? now : null,
      status_transitions: { ...invoice.status_transitions, finalized_at: now },
    },
    'invoice.finalized',
    act.context,
  );
};

const paidInvoice = (act: Act, invoice: Stripe.Invoice): Stripe.Invoice => {
  const now = timeOf(act);
  const paid = act.store.update(
    'invoice',
    invoice.id,
    {
      status: 'paid',
      amount_paid: invoice.amount_due,
      amount_remaining: 0,
      attempted: true,
      attempt_count: invoice.attempt_count + (invoice.amount_due > 0 ? 1 : 0),
      next_payment_attempt: null,
      status_transitions: { ...invoice.status_transitions, paid_at: now },
    },
    'invoice.paid',
    act.context,
  );
  act.store.emit('invoice.payment_succeeded', paid, undefined, act.context);
  return paid;
};

/** The payment method an invoice is charged with: the subscription's, else the customer's default. */
const invoicePaymentMethod = (store: EmulatorStore, invoice: Stripe.Invoice): string | null => {
  const subscriptionId = invoice.parent?.subscription_details?.subscription;
  const subscription =
    typeof subscriptionId === 'string' ? store.get('subscription', subscriptionId) : undefined;
  const customer = store.get('customer', referencedId(invoice.customer) ?? '');
  // Payment methods are Stripe's test-token strings here, never expanded objects.
  return (
    referencedId(subscription?.default_payment_method) ??
    referencedId(customer?.invoice_settings.default_payment_method) ??
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
  invoice: Stripe.Invoice,
  paymentMethod: string | null,
  retryAt: number | null,
): boolean => {
  assertInvoiceOpen(invoice, 'paid');
  const { store } = act;
  if (invoice.amount_due === 0) {
    paidInvoice(act, invoice);
    return true;
  }
  const payment = invoicePaymentOf(store, invoice.id);
  const intentId = payment?.payment.payment_intent;
  const intent = typeof intentId === 'string' ? store.get('payment_intent', intentId) : undefined;
  const method = paymentMethod ?? invoicePaymentMethod(store, invoice);
  const succeeded = intent && method ? confirmPaymentIntent(act, intent, method).succeeded : false;
  if (succeeded && payment) {
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
      attempt_count: invoice.attempt_count + 1,
      next_payment_attempt: retryAt,
    },
    'invoice.payment_failed',
    act.context,
  );
  return false;
};

export const voidInvoice = (act: Act, invoice: Stripe.Invoice): Stripe.Invoice => {
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
    const intentId = payment.payment.payment_intent;
    const intent = typeof intentId === 'string' ? act.store.get('payment_intent', intentId) : undefined;
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
      status_transitions: { ...invoice.status_transitions, voided_at: timeOf(act) },
    },
    'invoice.voided',
    act.context,
  );
};

// ---------------------------------------------------------------------------------------------
// Subscriptions
