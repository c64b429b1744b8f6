import { z } from 'zod';
import { canonicalJson } from './canonical.js';

/**
 * What the projectors read of each Stripe object, across API versions from 2020-03-02 to the
 * `stripe` package's pinned one. Only the fields read are declared; everything else is ignored, so
 * a field added or removed elsewhere never fails a parse. Fields that moved between versions are
 * declared in both places, and the table definitions (`src/projections/payments/tables/`) read either.
 */

/** An expandable reference: an id, or the expanded object carrying it. */
const reference = z
  .union([z.string(), z.object({ id: z.string() })])
  .nullish()
  .transform((value) => (value == null ? null : typeof value === 'string' ? value : value.id));

const text = z
  .string()
  .nullish()
  .transform((value) => value ?? null);
const integer = z
  .number()
  .int()
  .nullish()
  .transform((value) => value ?? null);
const unixTime = integer;
const flag = z
  .boolean()
  .nullish()
  .transform((value) => value ?? null);
/**
 * The coupon named inside another object: where newer API versions moved a discount's coupon
 * (`source`) and a promotion code's (`promotion`); older ones carry it at the top as `coupon`.
 */
const couponWithin = z
  .object({ coupon: reference })
  .nullish()
  .transform((value) => value?.coupon ?? null);
export const metadataSchema = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((value) =>
    Object.fromEntries(Object.entries(value ?? {}).filter(([, item]) => typeof item === 'string')),
  ) as unknown as z.ZodType<Record<string, string>>;

/** A list inside an object: complete only when `has_more` is false. */
const list = <T extends z.ZodTypeAny>(item: T) =>
  z
    .object({ data: z.array(item).default([]), has_more: z.boolean().nullish() })
    .nullish()
    .transform((value) => ({
      data: (value?.data ?? []) as z.output<T>[],
      complete: value?.has_more === false,
    }));

export const productSchema = z.object({
  id: z.string(),
  name: text,
  description: text,
  active: flag,
  default_price: reference,
  metadata: metadataSchema,
});

export const priceSchema = z.object({
  id: z.string(),
  object: z.string(),
  product: reference,
  active: flag,
  currency: text,
  unit_amount: integer,
  /** Legacy plan objects carry the amount and interval at the top level. */
  amount: integer,
  interval: text,
  interval_count: integer,
  type: text,
  recurring: z
    .object({ interval: text, interval_count: integer })
    .nullish()
    .transform((value) => value ?? null),
  lookup_key: text,
  nickname: text,
  metadata: metadataSchema,
});

/**
 * The customer an object (a subscription, a Checkout Session, a payment intent) belongs to, read
 * alone: pairing a subject reads only this, for every candidate, where parsing the whole object
 * cost a third of a rebuild's parsing.
 */
export const customerReferenceSchema = z
  .object({ customer: reference })
  .transform(({ customer }) => customer);

export const customerSchema = z
  .object({
    id: z.string(),
    email: text,
    name: text,
    invoice_settings: z
      .object({ default_payment_method: reference })
      .nullish()
      .transform((value) => ({ default_payment_method: value?.default_payment_method ?? null })),
    metadata: metadataSchema,
  })
  // The payment method invoices and subscriptions without their own charge, by its name.
  .transform(({ invoice_settings, ...customer }) => ({
    ...customer,
    default_payment_method: invoice_settings.default_payment_method,
  }));

const priceReference = z
  .union([z.string(), z.object({ id: z.string(), product: reference })])
  .nullish()
  .transform((value) =>
    value == null
      ? null
      : typeof value === 'string'
        ? { id: value, product: null }
        : { id: value.id, product: value.product },
  );

export const subscriptionItemSchema = z.object({
  id: z.string(),
  price: priceReference,
  /** Before prices, items named a plan. */
  plan: priceReference,
  quantity: integer,
  /** Basil and later: the period lives on the items. */
  current_period_start: unixTime,
  current_period_end: unixTime,
});

export const subscriptionSchema = z
  .object({
    id: z.string(),
    customer: reference,
    status: text,
    current_period_start: unixTime,
    current_period_end: unixTime,
    cancel_at_period_end: flag,
    cancel_at: unixTime,
    canceled_at: unixTime,
    ended_at: unixTime,
    trial_start: unixTime,
    trial_end: unixTime,
    latest_invoice: reference,
    default_payment_method: reference,
    /** Since 2024: every discount, ids or expanded; before, the one `discount`. */
    discounts: z
      .array(reference)
      .nullish()
      .transform((value) => value ?? null),
    discount: z
      .object({ id: z.string() })
      .nullish()
      .transform((value) => value?.id ?? null),
    metadata: metadataSchema,
    items: list(subscriptionItemSchema),
  })
  .transform(({ discounts, discount, ...subscription }) => ({
    ...subscription,
    discount_ids: (discounts ?? (discount ? [discount] : [])).flatMap((id) => id ?? []),
  }));

export const invoiceSchema = z
  .object({
    id: z.string(),
    customer: reference,
    status: text,
    amount_due: integer,
    amount_paid: integer,
    currency: text,
    hosted_invoice_url: text,
    /** What discounts took off. */
    total_discount_amounts: z
      .array(z.object({ amount: integer }))
      .nullish()
      .transform((value) => (value ? value.reduce((sum, entry) => sum + (entry.amount ?? 0), 0) : null)),
    /** What credit notes took off, after and before payment. */
    post_payment_credit_notes_amount: integer,
    pre_payment_credit_notes_amount: integer,
    /** Before basil. */
    subscription: reference,
    payment_intent: reference,
    charge: reference,
    /** Basil and later. */
    parent: z
      .object({ subscription_details: z.object({ subscription: reference }).nullish() })
      .nullish()
      .transform((value) => value?.subscription_details?.subscription ?? null),
    status_transitions: z
      .object({ paid_at: unixTime })
      .nullish()
      .transform((value) => value?.paid_at ?? null),
    metadata: metadataSchema,
  })
  // One place for the subscription, whatever the version; the paid time by its name.
  .transform(
    ({
      parent,
      status_transitions,
      total_discount_amounts,
      post_payment_credit_notes_amount,
      pre_payment_credit_notes_amount,
      ...invoice
    }) => ({
      ...invoice,
      subscription: invoice.subscription ?? parent,
      paid_at: status_transitions,
      amount_discounted: total_discount_amounts,
      amount_credited:
        post_payment_credit_notes_amount === null && pre_payment_credit_notes_amount === null
          ? null
          : (post_payment_credit_notes_amount ?? 0) + (pre_payment_credit_notes_amount ?? 0),
    }),
  );

export const invoicePaymentSchema = z.object({
  id: z.string(),
  invoice: reference,
  status: text,
  amount_paid: integer,
  amount_requested: integer,
  currency: text,
  status_transitions: z
    .object({ paid_at: unixTime })
    .nullish()
    .transform((value) => value?.paid_at ?? null),
  payment: z
    .object({ type: text, payment_intent: reference, charge: reference })
    .nullish()
    .transform((value) => ({ paymentIntent: value?.payment_intent ?? null, charge: value?.charge ?? null })),
});

export const paymentIntentSchema = z.object({
  id: z.string(),
  customer: reference,
  status: text,
  amount: integer,
  amount_received: integer,
  currency: text,
  /** Before basil. */
  invoice: reference,
  latest_charge: reference,
  /** Before 2022-11-15 the charges came embedded. */
  charges: list(z.object({ id: z.string(), created: unixTime })),
  metadata: metadataSchema,
  last_payment_error: z.unknown().nullish(),
});

export const chargeSchema = z.object({
  id: z.string(),
  customer: reference,
  payment_intent: reference,
  invoice: reference,
  status: text,
  amount: integer,
  amount_refunded: integer,
  refunded: flag,
  currency: text,
  created: unixTime,
  metadata: metadataSchema,
});

export const refundSchema = z.object({
  id: z.string(),
  charge: reference,
  payment_intent: reference,
  amount: integer,
  currency: text,
  status: text,
  reason: text,
  metadata: metadataSchema,
});

export const disputeSchema = z.object({
  id: z.string(),
  charge: reference,
  payment_intent: reference,
  amount: integer,
  currency: text,
  status: text,
  reason: text,
});

export const checkoutSessionSchema = z.object({
  id: z.string(),
  mode: text,
  status: text,
  payment_status: text,
  customer: reference,
  customer_email: text,
  customer_details: z
    .object({ email: text })
    .nullish()
    .transform((value) => value?.email ?? null),
  payment_intent: reference,
  subscription: reference,
  success_url: text,
  cancel_url: text,
  url: text,
  line_items: list(z.unknown()),
  /** The coupons and promotion codes applied at Checkout, and what they took off. */
  discounts: z
    .array(z.object({ coupon: reference, promotion_code: reference }))
    .nullish()
    .transform((value) => value ?? []),
  total_details: z
    .object({ amount_discount: integer })
    .nullish()
    .transform((value) => value?.amount_discount ?? null),
  metadata: metadataSchema,
});

export const paymentMethodSchema = z.object({
  id: z.string(),
  type: text,
  customer: reference,
  card: z
    .object({
      brand: text,
      last4: text,
      exp_month: integer,
      exp_year: integer,
      wallet: z
        .object({ type: text })
        .nullish()
        .transform((value) => value?.type ?? null),
    })
    .nullish()
    .transform((value) => value ?? null),
  billing_details: z
    .object({ address: z.object({ country: text }).nullish() })
    .nullish()
    .transform((value) => ({ country: value?.address?.country ?? null })),
  metadata: metadataSchema,
});

export const setupIntentSchema = z.object({
  id: z.string(),
  customer: reference,
  status: text,
  usage: text,
  payment_method: reference,
  last_setup_error: z
    .object({ code: text, message: text })
    .nullish()
    .transform((value) => value ?? null),
  metadata: metadataSchema,
});

/** A credit note on an invoice: what it took off, why, and how it was settled. */
export const creditNoteSchema = z
  .object({
    id: z.string(),
    invoice: reference,
    customer: reference,
    amount: integer,
    currency: text,
    status: text,
    type: text,
    reason: text,
    out_of_band_amount: integer,
    memo: text,
    voided_at: unixTime,
    /** Since 2024: one entry per refund; before, `refund`. */
    refunds: z
      .array(z.object({ refund: reference }))
      .nullish()
      .transform((value) => value ?? []),
    refund: reference,
    metadata: metadataSchema,
  })
  .transform(({ refunds, refund, ...note }) => ({
    ...note,
    refund_ids: refunds.length > 0 ? refunds.flatMap((entry) => entry.refund ?? []) : refund ? [refund] : [],
  }));

/** A coupon applied: to a customer, a subscription, an invoice or a Checkout Session. */
export const discountSchema = z
  .object({
    id: z.string(),
    customer: reference,
    subscription: text,
    invoice: text,
    checkout_session: text,
    promotion_code: reference,
    /** Since 2025 under `source`; before, the coupon itself. */
    source: couponWithin,
    coupon: reference,
    start: unixTime,
    end: unixTime,
  })
  .transform(({ source, coupon, ...discount }) => ({ ...discount, coupon: source ?? coupon }));

/** A subscription schedule: its phases (prices, quantities, dates), the current one, its subscription. */
export const subscriptionScheduleSchema = z.object({
  id: z.string(),
  customer: reference,
  subscription: reference,
  released_subscription: text,
  status: text,
  end_behavior: text,
  current_phase: z
    .object({ start_date: unixTime, end_date: unixTime })
    .nullish()
    .transform((value) => value ?? null),
  phases: z
    .array(
      z.object({
        start_date: unixTime,
        end_date: unixTime,
        items: z
          .array(z.object({ price: reference, quantity: integer }))
          .nullish()
          .transform((value) => value ?? []),
      }),
    )
    .nullish()
    .transform((value) => value ?? []),
  metadata: metadataSchema,
});

/** A feature a product grants; Stripe's object names no product, Payfold's sync adds it (`product`). */
export const productFeatureSchema = z.object({
  id: z.string(),
  product: text,
  entitlement_feature: z
    .object({ id: z.string(), lookup_key: text })
    .nullish()
    .transform((value) => value ?? null),
});

/** A coupon of the catalog: a percentage or an amount off, for a duration. */
export const couponSchema = z.object({
  id: z.string(),
  name: text,
  percent_off: z
    .number()
    .nullish()
    .transform((value) => value ?? null),
  amount_off: integer,
  currency: text,
  duration: text,
  duration_in_months: integer,
  max_redemptions: integer,
  times_redeemed: integer,
  redeem_by: unixTime,
  valid: flag,
  metadata: metadataSchema,
});

/** A code customers type to redeem a coupon; its coupon under `promotion` since 2025, before at the top. */
export const promotionCodeSchema = z
  .object({
    id: z.string(),
    code: text,
    active: flag,
    customer: reference,
    expires_at: unixTime,
    max_redemptions: integer,
    times_redeemed: integer,
    promotion: couponWithin,
    coupon: reference,
    metadata: metadataSchema,
  })
  .transform(({ promotion, coupon, ...code }) => ({ ...code, coupon: promotion ?? coupon }));

/** A customer's tax id (`tax_id`: VAT, EIN…); a deleted one comes whole in its deletion event. */
export const taxIdSchema = z.object({
  id: z.string(),
  customer: reference,
  type: text,
  value: text,
  country: text,
  verification: z
    .object({ status: text })
    .nullish()
    .transform((value) => ({ status: value?.status ?? null })),
});

/** A card network's warning that a charge looks fraudulent (`radar.early_fraud_warning`). */
export const earlyFraudWarningSchema = z.object({
  id: z.string(),
  charge: reference,
  payment_intent: reference,
  fraud_type: text,
  actionable: flag,
});

/** A catalog feature (`entitlements.feature`), which products grant and entitlements name. */
export const featureSchema = z.object({
  id: z.string(),
  name: text,
  lookup_key: text,
  active: flag,
  metadata: metadataSchema,
});

/** The object Stripe sends a customer's active entitlements in, whole, each time they change. */
export const activeEntitlementSummaryType = 'entitlements.active_entitlement_summary';

/**
 * A customer's active entitlements as a whole: Stripe gives the summary no id, Payfold names it by
 * its customer (`src/domain/stripe/candidates.ts`).
 */
export const activeEntitlementSummarySchema = z.object({
  id: z.string(),
  customer: z.string(),
  entitlements: list(
    z.object({
      id: z.string(),
      lookup_key: z.string(),
      feature: reference,
    }),
  ),
});

/** The reading of each object type a sync lists: the fields the payments tables are built from. */
export const projectedReading: Record<string, z.ZodType<Record<string, unknown>>> = {
  product: productSchema,
  price: priceSchema,
  customer: customerSchema,
  subscription: subscriptionSchema,
  invoice: invoiceSchema,
  payment_intent: paymentIntentSchema,
  charge: chargeSchema,
  refund: refundSchema,
  dispute: disputeSchema,
  'checkout.session': checkoutSessionSchema,
  payment_method: paymentMethodSchema,
  setup_intent: setupIntentSchema,
  'entitlements.feature': featureSchema,
  [activeEntitlementSummaryType]: activeEntitlementSummarySchema,
  credit_note: creditNoteSchema,
  coupon: couponSchema,
  discount: discountSchema,
  subscription_schedule: subscriptionScheduleSchema,
  product_feature: productFeatureSchema,
  promotion_code: promotionCodeSchema,
  tax_id: taxIdSchema,
  'radar.early_fraud_warning': earlyFraudWarningSchema,
};

/**
 * Whether the tables show an object the same whether they hold it or not: a customer's entitlement
 * summary that lists nothing (Stripe sends one only when entitlements change), so reconcile does
 * not count it as missing.
 */
export const showsNothing = (objectType: string, object: Record<string, unknown>): boolean => {
  if (objectType !== activeEntitlementSummaryType) return false;
  const summary = activeEntitlementSummarySchema.safeParse(object);
  return summary.success && summary.data.entitlements.complete && summary.data.entitlements.data.length === 0;
};

const differingKeys = (a: Record<string, unknown>, b: Record<string, unknown>): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((key) => canonicalJson(a[key] ?? null) !== canonicalJson(b[key] ?? null))
    .sort();

/**
 * How two snapshots of one object differ: in the fields the tables are built from (`projected`:
 * a table would show them differently), and in the others (`elsewhere`: no table shows them, and
 * Stripe changes some without sending an event, like a customer's `next_invoice_sequence`). A
 * snapshot that cannot be read counts every difference as projected.
 */
export const snapshotDifferences = (
  objectType: string,
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): { projected: string[]; elsewhere: string[] } => {
  const all = differingKeys(a, b);
  const reading = projectedReading[objectType];
  const readA = reading?.safeParse(a);
  const readB = reading?.safeParse(b);
  if (!readA?.success || !readB?.success) return { projected: all, elsewhere: [] };
  const projected = differingKeys(readA.data, readB.data);
  return { projected, elsewhere: all.filter((field) => !projected.includes(field)) };
};
