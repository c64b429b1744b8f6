import { productFeatureSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/**
 * `payments.product_features`: which features each product grants (Stripe sends no event about
 * them: a sync reads each product's, and one no longer read is marked removed).
 */
export const productFeaturesTable = mirrorTable(
  {
    name: 'payments.product_features',
    key: ['environment', 'product_feature_id'],
    columns: {
      environment: 'text not null',
      product_feature_id: 'text not null',
      product_id: 'text',
      feature_id: 'text',
      lookup_key: 'text',
      deleted: 'boolean not null',
    },
  },
  'product_feature',
  ({ environment, snapshot, deleted }) => {
    const attachment = productFeatureSchema.parse(snapshot);
    return {
      environment,
      product_feature_id: attachment.id,
      product_id: attachment.product,
      feature_id: attachment.entitlement_feature?.id ?? null,
      lookup_key: attachment.entitlement_feature?.lookup_key ?? null,
      deleted,
    };
  },
);
