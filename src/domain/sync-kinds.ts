/** Every kind of object a sync lists, in the order it lists them. */
export const syncObjectKinds = [
  'product',
  'price',
  'customer',
  'subscription',
  'invoice',
  'payment_intent',
  'charge',
  'refund',
  'dispute',
  'checkout.session',
  'payment_method',
  'setup_intent',
  'entitlements.feature',
  'entitlements.active_entitlement_summary',
  'tax_id',
  'radar.early_fraud_warning',
  'credit_note',
  'coupon',
  'promotion_code',
  'discount',
  'subscription_schedule',
  'product_feature',
] as const;

export type SyncObjectKind = (typeof syncObjectKinds)[number];

/**
 * Where a sync lists a kind: the account's list (`{}`), or, in test mode, one test clock's
 * (`{test_clock}`) or one of its customers' (`{customer}`). Stripe leaves a test clock's
 * customers, subscriptions and invoices out of the account's lists.
 */
export type ListScope = Readonly<Partial<Record<'test_clock' | 'customer' | 'product', string>>>;

/** The kinds Stripe lists without test clock objects, and the filter that lists a clock's. */
export const clockScopedKinds: Partial<Record<SyncObjectKind, 'test_clock' | 'customer'>> = {
  customer: 'test_clock',
  subscription: 'test_clock',
  invoice: 'customer',
};

/** Kinds Stripe lists only per product, for every product: a product's features. */
export const perProductKinds: ReadonlySet<SyncObjectKind> = new Set(['product_feature']);

/**
 * Kinds Stripe lists only per customer, for every customer: a customer's payment methods (a
 * detached one is in no list), active entitlements (read whole, as the summary Stripe's events
 * carry), tax ids and discounts (Stripe has no list of them: read from the customer and its
 * subscriptions).
 */
export const perCustomerKinds: ReadonlySet<SyncObjectKind> = new Set([
  'payment_method',
  'entitlements.active_entitlement_summary',
  'tax_id',
  'discount',
]);

export const scopeKey = (scope: ListScope): string =>
  Object.entries(scope)
    .map(([name, value]) => `${name}=${value}`)
    .join('&');

/**
 * Where a kind's sync goes on: the scope and the last object listed in it, as one text
 * (`test_clock=clock_1 sub_9`). The account's scope is the plain object id, as cursors were before
 * scopes, so a sync stopped by an older Payfold resumes where it stopped.
 */
export const encodeSyncCursor = (scope: ListScope, after: string | null): string | null => {
  const key = scopeKey(scope);
  if (key === '') return after;
  return `${key} ${after ?? ''}`;
};

export const decodeSyncCursor = (cursor: string | null): { scopeKey: string; after: string | null } => {
  if (cursor === null) return { scopeKey: '', after: null };
  const space = cursor.indexOf(' ');
  if (space < 0) return { scopeKey: '', after: cursor };
  return { scopeKey: cursor.slice(0, space), after: cursor.slice(space + 1) || null };
};
