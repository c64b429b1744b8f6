import { featureSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/** `payments.features`: the catalog's features, which products grant (Stripe Entitlements). */
export const featuresTable = mirrorTable(
  {
    name: 'payments.features',
    key: ['environment', 'feature_id'],
    columns: {
      environment: 'text not null',
      feature_id: 'text not null',
      name: 'text',
      lookup_key: 'text',
      active: 'boolean',
      metadata: 'jsonb not null',
    },
  },
  'entitlements.feature',
  ({ environment, snapshot }) => {
    const feature = featureSchema.parse(snapshot);
    return {
      environment,
      feature_id: feature.id,
      name: feature.name,
      lookup_key: feature.lookup_key,
      active: feature.active,
      metadata: feature.metadata,
    };
  },
);
