import { invalid, type Params } from './params.js';
import type { Resource } from './resources.js';
import { type EmulatorStore, type StripeRecord, testClockType } from './store.js';

/** Object types by id prefix, for expanding an id into its object. */
const typesByPrefix: Record<string, string> = {
  bpc: 'billing_portal.configuration',
  ch: 'charge',
  clock: testClockType,
  cs: 'checkout.session',
  cus: 'customer',
  dp: 'dispute',
  in: 'invoice',
  inpay: 'invoice_payment',
  pi: 'payment_intent',
  price: 'price',
  prod: 'product',
  re: 'refund',
  si: 'subscription_item',
  sub: 'subscription',
  txn: 'balance_transaction',
  pm: 'payment_method',
  seti: 'setup_intent',
  cn: 'credit_note',
  promo: 'promotion_code',
  di: 'discount',
};

/** The `expand[]` paths of a request (`expand[]=customer`, `expand[0]=data.latest_invoice`). */
export const expansionsOf = (params: Params): string[] => {
  const expand = params.expand;
  if (expand === undefined) return [];
  const paths: unknown[] = Array.isArray(expand)
    ? expand
    : expand !== null && typeof expand === 'object'
      ? Object.values(expand as Record<string, unknown>)
      : [expand];
  return paths.map(String);
};

/**
 * Replaces the ids a request names in `expand[]` by their objects, and fills the lists Stripe
 * only includes on request (a session's `line_items`, an invoice's `payments`, a charge's
 * `refunds`). Paths go through lists (`data.customer`) and nest up to four levels, as in Stripe.
 */
export const expand = (
  store: EmulatorStore,
  resources: readonly Resource[],
  body: unknown,
  paths: readonly string[],
): unknown => {
  if (paths.length === 0) return body;
  const result = structuredClone(body);
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.length > 4)
      throw invalid('expand', `You cannot expand more than 4 levels of a property: ${path}.`);
    expandPath(result, segments, path, store, resources);
  }
  return result;
};

const cannotExpand = (path: string) => invalid('expand', `This property cannot be expanded (${path}).`);

/** The object an id names, by its prefix (`cus_…` a customer), or undefined. */
const objectOfId = (store: EmulatorStore, id: string): StripeRecord | undefined => {
  const type = typesByPrefix[id.split('_')[0] as string];
  return type ? store.get(type, id) : undefined;
};

/**
 * Expands one path. An id on the way is expanded too (`latest_charge.balance_transaction`
 * expands the charge, then its balance transaction), as Stripe does, so the result does not
 * depend on the order of the `expand[]` entries.
 */
const expandPath = (
  node: unknown,
  segments: string[],
  path: string,
  store: EmulatorStore,
  resources: readonly Resource[],
): void => {
  if (Array.isArray(node)) {
    for (const element of node) expandPath(element, segments, path, store, resources);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  const [field, ...rest] = segments as [string, ...string[]];
  const value = record[field];
  const resource = resources.find((candidate) => candidate.type === record.object);
  const includable = resource?.lists?.[field];
  if (resource && includable && (value === undefined || value === null || typeof value !== 'object')) {
    record[field] = {
      object: 'list',
      data: includable(record as StripeRecord, store),
      has_more: false,
      url: `/v1/${resource.path}/${record.id}/${field}`,
    };
  } else if (typeof value === 'string') {
    const target = objectOfId(store, value);
    if (!target) throw cannotExpand(path);
    record[field] = structuredClone(target);
  } else if (Array.isArray(value) && value.every((element) => typeof element === 'string')) {
    // A list of ids (a subscription's `discounts`): each expanded.
    record[field] = value.map((id: string) => {
      const target = objectOfId(store, id);
      if (!target) throw cannotExpand(path);
      return structuredClone(target);
    });
  } else if (value === undefined) {
    throw cannotExpand(path);
  }
  if (rest.length > 0) expandPath(record[field], rest, path, store, resources);
};
