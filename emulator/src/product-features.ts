import type Stripe from 'stripe';
import { invalid, type Params, required, resourceMissing } from './params.js';
import type { EmulatorStore } from './store.js';

const featureOf = (store: EmulatorStore, id: string, param: string): Stripe.Entitlements.Feature => {
  const feature = store.get('entitlements.feature', id);
  if (!feature) throw resourceMissing('entitlements.feature', id, param);
  return feature;
};

/** A product's feature as Stripe shows it: the attachment, with the feature inside. */
const productFeatureOf = (store: EmulatorStore, attachment: { id: string; feature: string }) => ({
  id: attachment.id,
  object: 'product_feature' as const,
  entitlement_feature: structuredClone(featureOf(store, attachment.feature, 'entitlement_feature')),
  livemode: false,
});

const attachmentsOf = (store: EmulatorStore, product: string) =>
  store.all('product_feature.extras').filter((attachment) => attachment.product === product);

/** `POST /v1/products/:id/features`: a feature its subscribers are entitled to (no event, as in Stripe). */
export const attachProductFeature = (
  store: EmulatorStore,
  product: Stripe.Product,
  params: Params,
): Stripe.ProductFeature => {
  const feature = featureOf(store, required(params, 'entitlement_feature'), 'entitlement_feature');
  if (attachmentsOf(store, product.id).some((attachment) => attachment.feature === feature.id)) {
    throw invalid('entitlement_feature', `This feature is already attached to product ${product.id}.`);
  }
  const attachment = store.put('product_feature.extras', {
    id: store.id('prodft'),
    object: 'product_feature.extras',
    created: store.now(),
    product: product.id,
    feature: feature.id,
  });
  return productFeatureOf(store, attachment);
};

export const productFeaturesOf = (store: EmulatorStore, product: Stripe.Product) =>
  attachmentsOf(store, product.id).map((attachment) => productFeatureOf(store, attachment));
