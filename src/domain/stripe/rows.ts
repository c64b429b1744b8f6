import type { Environment } from '../environment.js';
import { isUuid, nameBasedUuid, requestIdMetadataKey, type Subject, subjectOfMetadata } from '../subject.js';
import {
  chargeSchema,
  checkoutSessionSchema,
  customerSchema,
  disputeSchema,
  invoicePaymentSchema,
  invoiceSchema,
  paymentIntentSchema,
  priceSchema,
  productSchema,
  refundSchema,
  subscriptionSchema,
} from './objects.js';

/** A row of a `payments.*` table, keyed by column name. */
export type Row = Record<
  string,
  string | number | boolean | Date | null | unknown[] | Record<string, unknown>
>;

const timestamp = (seconds: number | null): Date | null =>
  seconds == null ? null : new Date(seconds * 1000);

const subjectColumns = (subject: Subject | null) => ({
  subject_type: subject?.type ?? null,
  subject_id: subject?.id ?? null,
});

/** The fields of a winning snapshot that every Stripe mirror row carries. */
export interface Winner {
  environment: Environment;
  snapshot: Record<string, unknown>;
  deleted: boolean;
}

export const productRow = ({ environment, snapshot, deleted }: Winner): Row => {
  const product = productSchema.parse(snapshot);
  return {
    environment,
    product_id: product.id,
    name: product.name,
    description: product.description,
    active: product.active,
    default_price_id: product.default_price,
    metadata: product.metadata,
    deleted,
  };
};

/** Prices and legacy plans (one id space, two shapes). */
export const priceRow = ({ environment, snapshot, deleted }: Winner): Row => {
  const price = priceSchema.parse(snapshot);
  const isPlan = price.object === 'plan';
  return {
    environment,
    price_id: price.id,
    product_id: price.product,
    active: price.active,
    currency: price.currency,
    unit_amount: isPlan ? price.amount : price.unit_amount,
    type: isPlan ? 'recurring' : price.type,
    recurring_interval: isPlan ? price.interval : (price.recurring?.interval ?? null),
    recurring_interval_count: isPlan ? price.interval_count : (price.recurring?.interval_count ?? null),
    lookup_key: price.lookup_key,
    nickname: price.nickname,
    metadata: price.metadata,
    deleted,
  };
};

export const customerRow = ({ environment, snapshot, deleted }: Winner): Row => {
  const customer = customerSchema.parse(snapshot);
  return {
    environment,
    customer_id: customer.id,
    email: customer.email,
    name: customer.name,
    metadata: customer.metadata,
    deleted,
    ...subjectColumns(subjectOfMetadata(customer.metadata)),
  };
};

export interface SubscriptionRows {
  subscription: Row;
  items: Row[];
  /** False when Stripe cut the item list short (`has_more`): items not listed are kept. */
  itemsComplete: boolean;
}

/**
 * A subscription and its items. Since basil the period lives on the items; the subscription's
 * period is then that of the item ending first.
 */
export const subscriptionRows = (
  { environment, snapshot }: Winner,
  mapped: Subject | null,
): SubscriptionRows => {
  const subscription = subscriptionSchema.parse(snapshot);
  const items = subscription.items.data;
  const firstEnding = items
    .filter((item) => item.current_period_end != null)
    .sort(
      (a, b) => (a.current_period_end as number) - (b.current_period_end as number) || (a.id < b.id ? -1 : 1),
    )[0];
  const periodStart = subscription.current_period_start ?? firstEnding?.current_period_start ?? null;
  const periodEnd = subscription.current_period_end ?? firstEnding?.current_period_end ?? null;
  return {
    subscription: {
      environment,
      subscription_id: subscription.id,
      customer_id: subscription.customer,
      ...subjectColumns(subjectOfMetadata(subscription.metadata) ?? mapped),
      status: subscription.status,
      current_period_start: timestamp(periodStart),
      current_period_end: timestamp(periodEnd),
      cancel_at_period_end: subscription.cancel_at_period_end ?? false,
      cancel_at: timestamp(subscription.cancel_at),
      canceled_at: timestamp(subscription.canceled_at),
      ended_at: timestamp(subscription.ended_at),
      trial_start: timestamp(subscription.trial_start),
      trial_end: timestamp(subscription.trial_end),
      latest_invoice_id: subscription.latest_invoice,
      metadata: subscription.metadata,
    },
    items: items.map((item) => {
      const price = item.price ?? item.plan;
      return {
        environment,
        subscription_item_id: item.id,
        subscription_id: subscription.id,
        price_id: price?.id ?? null,
        product_id: price?.product ?? null,
        quantity: item.quantity,
      };
    }),
    itemsComplete: subscription.items.complete,
  };
};

/** The subscription an invoice belongs to: a top-level field before basil, under `parent` since. */
export const invoiceSubscriptionId = (snapshot: Record<string, unknown>): string | null => {
  const invoice = invoiceSchema.parse(snapshot);
  return invoice.subscription ?? invoice.parent;
};

export const invoiceRow = ({ environment, snapshot, deleted }: Winner): Row => {
  const invoice = invoiceSchema.parse(snapshot);
  return {
    environment,
    invoice_id: invoice.id,
    customer_id: invoice.customer,
    subscription_id: invoice.subscription ?? invoice.parent,
    status: invoice.status,
    amount_due: invoice.amount_due,
    amount_paid: invoice.amount_paid,
    currency: invoice.currency,
    hosted_invoice_url: invoice.hosted_invoice_url,
    paid_at: timestamp(invoice.status_transitions),
    metadata: invoice.metadata,
    deleted,
  };
};

export const refundRow = ({ environment, snapshot }: Winner): Row => {
  const refund = refundSchema.parse(snapshot);
  return {
    environment,
    refund_id: refund.id,
    charge_id: refund.charge,
    payment_intent_id: refund.payment_intent,
    amount: refund.amount,
    currency: refund.currency,
    status: refund.status,
    reason: refund.reason,
    metadata: refund.metadata,
  };
};

export const disputeRow = ({ environment, snapshot }: Winner): Row => {
  const dispute = disputeSchema.parse(snapshot);
  return {
    environment,
    dispute_id: dispute.id,
    charge_id: dispute.charge,
    payment_intent_id: dispute.payment_intent,
    amount: dispute.amount,
    currency: dispute.currency,
    status: dispute.status,
    reason: dispute.reason,
  };
};

const checkoutStatus: Record<string, string> = { open: 'open', complete: 'completed', expired: 'expired' };

/**
 * The row id of a Checkout Session: the id of the Payfold request that created it when its
 * metadata names one, else a name-based UUID of the `cs_` id, so that a rebuild finds the same id.
 */
export const checkoutSessionRowId = (sessionId: string, metadata: Record<string, string>): string => {
  const requestId = metadata[requestIdMetadataKey];
  return requestId && isUuid(requestId)
    ? requestId.toLowerCase()
    : nameBasedUuid(`checkout.session:${sessionId}`);
};

export const checkoutSessionRow = ({ environment, snapshot }: Winner): Row => {
  const session = checkoutSessionSchema.parse(snapshot);
  return {
    id: checkoutSessionRowId(session.id, session.metadata),
    environment,
    checkout_session_id: session.id,
    mode: session.mode,
    status: session.status ? (checkoutStatus[session.status] ?? session.status) : null,
    payment_status: session.payment_status,
    ...subjectColumns(subjectOfMetadata(session.metadata)),
    customer_email: session.customer_email ?? session.customer_details,
    line_items: session.line_items.data.length > 0 ? session.line_items.data : null,
    success_url: session.success_url,
    cancel_url: session.cancel_url,
    customer_id: session.customer,
    payment_intent_id: session.payment_intent,
    subscription_id: session.subscription,
    url: session.url,
    metadata: session.metadata,
  };
};

export interface PaymentInputs {
  environment: Environment;
  /** The payment intent the payment is, even when only its charges are known so far. */
  paymentIntentId: string | null;
  paymentIntent: Record<string, unknown> | null;
  /** Every known charge of the payment intent, or the lone charge of a payment made without one. */
  charges: Record<string, unknown>[];
  /** The invoice the payment pays, when one is linked (its id may be known before the invoice). */
  invoiceId: string | null;
  invoice: Record<string, unknown> | null;
  /** Since basil, the link between the invoice and the payment; all that may be known of it yet. */
  invoicePayment: Record<string, unknown> | null;
  /** That invoice's subscription, when known. */
  subscription: Record<string, unknown> | null;
  /** The subject mapped to the payment's customer, for when no metadata names one. */
  mapped: Subject | null;
}

type Charge = ReturnType<typeof chargeSchema.parse>;

const invoicePaymentStatus: Record<string, string> = {
  open: 'pending',
  paid: 'succeeded',
  canceled: 'failed',
};

/** The charge a payment stands on now: the intent's latest charge, else the newest one known. */
const latestCharge = (
  intentLatest: string | null,
  embedded: string[],
  charges: Charge[],
): Charge | undefined => {
  const byId = new Map(charges.map((charge) => [charge.id, charge]));
  const named = (intentLatest && byId.get(intentLatest)) || embedded.map((id) => byId.get(id)).find(Boolean);
  if (named) return named;
  return [...charges].sort((a, b) => (b.created ?? 0) - (a.created ?? 0) || (a.id < b.id ? 1 : -1))[0];
};

/**
 * One row per payment: a payment intent, or a charge made without one. Its status reads the
 * intent and its latest charge; refunds show through that charge's `amount_refunded`.
 */
export const paymentHistoryRow = (inputs: PaymentInputs): Row => {
  const intent = inputs.paymentIntent ? paymentIntentSchema.parse(inputs.paymentIntent) : null;
  const charges = inputs.charges.map((charge) => chargeSchema.parse(charge));
  const charge = latestCharge(
    intent?.latest_charge ?? null,
    intent?.charges.data.map((c) => c.id) ?? [],
    charges,
  );
  const invoice = inputs.invoice ? invoiceSchema.parse(inputs.invoice) : null;
  const invoicePayment = inputs.invoicePayment ? invoicePaymentSchema.parse(inputs.invoicePayment) : null;
  const subscription = inputs.subscription ? subscriptionSchema.parse(inputs.subscription) : null;
  const subscriptionId = invoice ? (invoice.subscription ?? invoice.parent) : null;

  const amount = intent?.amount ?? charge?.amount ?? invoicePayment?.amount_requested ?? null;
  const refunded = charge?.amount_refunded ?? 0;
  const chargeSucceeded = charge?.status === 'succeeded';
  const intentFailed =
    intent?.status === 'canceled' ||
    (intent?.status === 'requires_payment_method' &&
      (intent.last_payment_error != null || charge?.status === 'failed'));
  let status: string;
  if (refunded > 0 && charge) status = refunded >= (charge.amount ?? 0) ? 'refunded' : 'partially_refunded';
  else if (intent) status = intent.status === 'succeeded' ? 'succeeded' : intentFailed ? 'failed' : 'pending';
  else if (charge) status = chargeSucceeded ? 'succeeded' : charge.status === 'failed' ? 'failed' : 'pending';
  else status = invoicePaymentStatus[invoicePayment?.status ?? ''] ?? 'pending';

  const paid = status === 'succeeded' || status === 'refunded' || status === 'partially_refunded';
  const metadataSubject =
    subjectOfMetadata(intent?.metadata) ??
    subjectOfMetadata(charge?.metadata) ??
    subjectOfMetadata(subscription?.metadata) ??
    subjectOfMetadata(invoice?.metadata);
  return {
    environment: inputs.environment,
    payment_id: inputs.paymentIntentId ?? (charge?.id as string),
    payment_intent_id: inputs.paymentIntentId,
    charge_id: charge?.id ?? null,
    type: subscriptionId ? 'subscription_invoice' : 'one_time_payment',
    status,
    ...subjectColumns(metadataSubject ?? inputs.mapped),
    customer_id: intent?.customer ?? charge?.customer ?? invoice?.customer ?? null,
    invoice_id: inputs.invoiceId,
    subscription_id: subscriptionId,
    amount,
    amount_refunded: refunded,
    currency: intent?.currency ?? charge?.currency ?? invoicePayment?.currency ?? null,
    paid_at: paid
      ? timestamp(
          charge ? (chargeSucceeded ? charge.created : null) : (invoicePayment?.status_transitions ?? null),
        )
      : null,
    failed_at: status === 'failed' && charge?.status === 'failed' ? timestamp(charge.created) : null,
  };
};
