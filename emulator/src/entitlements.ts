import type Stripe from 'stripe';
import { bool, invalid, mergeMetadata, required, text } from './params.js';
import { type Resource, resource } from './resources.js';
import { type EmittedEvent, type EmulatorStore, type RequestContext, referencedId } from './store.js';

/** The subscriptions whose products' features a customer may use, as in Stripe. */
const grantingStatuses = new Set(['active', 'trialing', 'past_due']);

/** The features a customer's granting subscriptions give it now, by lookup key. */
const featuresOfCustomer = (store: EmulatorStore, customer: string): Stripe.Entitlements.Feature[] => {
  const products = new Set(
    store
      .all('subscription')
      .filter(
        (subscription) =>
          referencedId(subscription.customer) === customer && grantingStatuses.has(subscription.status),
      )
      .flatMap((subscription) => subscription.items.data.map((item) => referencedId(item.price.product))),
  );
  const features = new Map<string, Stripe.Entitlements.Feature>();
  for (const attachment of store.all('product_feature.extras')) {
    if (!products.has(attachment.product)) continue;
    const feature = store.get('entitlements.feature', attachment.feature);
    if (feature?.active) features.set(feature.lookup_key, feature);
  }
  return [...features.values()].sort((a, b) => a.lookup_key.localeCompare(b.lookup_key));
};

const activeEntitlementsOf = (
  store: EmulatorStore,
  customer: string,
): Stripe.Entitlements.ActiveEntitlement[] =>
  store
    .all('entitlements.active_entitlement.extras')
    .filter((extras) => extras.customer === customer)
    .flatMap((extras) => store.get('entitlements.active_entitlement', extras.id) ?? [])
    .sort((a, b) => a.lookup_key.localeCompare(b.lookup_key));

const summaryOf = (customer: string, entitlements: Stripe.Entitlements.ActiveEntitlement[]) => ({
  object: 'entitlements.active_entitlement_summary' as const,
  customer,
  entitlements: {
    object: 'list' as const,
    data: structuredClone(entitlements),
    has_more: false,
    url: '/v1/entitlements/active_entitlements',
  },
  livemode: false,
});

/**
 * Brings a customer's active entitlements in line with its subscriptions and, when they changed,
 * emits `entitlements.active_entitlement_summary.updated` with the whole new list (and the old one
 * in `previous_attributes`), as Stripe does after the subscription event that changed them.
 */
const refreshEntitlements = (store: EmulatorStore, customer: string, context: RequestContext) => {
  const before = activeEntitlementsOf(store, customer);
  const wanted = featuresOfCustomer(store, customer);
  const kept = before.filter((entitlement) =>
    wanted.some((feature) => feature.id === referencedId(entitlement.feature)),
  );
  const added = wanted
    .filter((feature) => !kept.some((entitlement) => referencedId(entitlement.feature) === feature.id))
    .map((feature) => {
      const id = store.id('ent');
      store.put('entitlements.active_entitlement.extras', {
        id,
        object: 'entitlements.active_entitlement.extras',
        created: context.at ?? store.now(),
        customer,
      });
      return store.put('entitlements.active_entitlement', {
        id,
        object: 'entitlements.active_entitlement',
        feature: feature.id,
        livemode: false,
        lookup_key: feature.lookup_key,
      });
    });
  const removed = before.filter((entitlement) => !kept.includes(entitlement));
  for (const entitlement of removed) {
    store.drop('entitlements.active_entitlement', entitlement.id);
    store.drop('entitlements.active_entitlement.extras', entitlement.id);
  }
  if (added.length === 0 && removed.length === 0) return;
  const previous = summaryOf(customer, before);
  store.emit(
    'entitlements.active_entitlement_summary.updated',
    summaryOf(customer, activeEntitlementsOf(store, customer)),
    { entitlements: previous.entitlements },
    context,
  );
};

/** Recomputes a customer's entitlements after each event about one of its subscriptions. */
export const followEntitlements = (store: EmulatorStore): void => {
  store.afterEvent((event: EmittedEvent, context: RequestContext) => {
    if (!event.type.startsWith('customer.subscription.')) return;
    const customer = referencedId(event.data.object.customer as string | null);
    if (customer) refreshEntitlements(store, customer, context);
  });
};

export const features: Resource = resource({
  type: 'entitlements.feature',
  path: 'entitlements/features',
  create: (params, { store }) => {
    const lookupKey = required(params, 'lookup_key');
    if (store.all('entitlements.feature').some((feature) => feature.lookup_key === lookupKey)) {
      throw invalid('lookup_key', `A feature with lookup_key ${lookupKey} already exists.`);
    }
    return store.put('entitlements.feature', {
      id: store.id('feat'),
      object: 'entitlements.feature',
      active: true,
      livemode: false,
      lookup_key: lookupKey,
      metadata: mergeMetadata({}, params.metadata),
      name: required(params, 'name'),
    });
  },
  update: (feature, params, { store }) =>
    store.put('entitlements.feature', {
      ...feature,
      name: text(params, 'name') ?? feature.name,
      active: bool(params, 'active') ?? feature.active,
      ...('metadata' in params ? { metadata: mergeMetadata(feature.metadata, params.metadata) } : {}),
    }),
  matches: (feature, params) =>
    (!text(params, 'lookup_key') || feature.lookup_key === text(params, 'lookup_key')) &&
    (bool(params, 'archived') === null || feature.active !== bool(params, 'archived')),
});

/** `GET /v1/entitlements/active_entitlements?customer=`: what the customer may use now. */
export const activeEntitlements: Resource = resource({
  type: 'entitlements.active_entitlement',
  path: 'entitlements/active_entitlements',
  matches: (entitlement, params, store) =>
    store.get('entitlements.active_entitlement.extras', entitlement.id)?.customer ===
    required(params, 'customer'),
});
