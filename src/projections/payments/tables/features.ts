import type { Environment } from '../../../domain/environment.js';
import { featureSchema } from '../../../domain/stripe/objects.js';
import type { DerivedTable } from './table.js';

const featureType = 'entitlements.feature';

const columns = {
  environment: 'text not null',
  feature_id: 'text not null',
  name: 'text',
  lookup_key: 'text',
  active: 'boolean',
  metadata: 'jsonb not null',
} as const;

/** `payments.features`: the catalog's features, which products grant (Stripe Entitlements). */
export const featuresTable: DerivedTable<typeof columns> = {
  name: 'payments.features',
  key: ['environment', 'feature_id'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === featureType ? [changed] : []),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, featureType, objectId);
    if (!winner) return { rows: [] };
    const feature = featureSchema.parse(winner.snapshot);
    return {
      rows: [
        {
          row: {
            environment: environment as Environment,
            feature_id: feature.id,
            name: feature.name,
            lookup_key: feature.lookup_key,
            active: feature.active,
            metadata: feature.metadata,
          },
          createdAt: winner.createdAt,
        },
      ],
    };
  },
};
