import { productSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/** `payments.products`: one row per Stripe product. */
export const productsTable = mirrorTable(
  {
    name: 'payments.products',
    key: ['environment', 'product_id'],
    columns: {
      environment: 'text not null',
      product_id: 'text not null',
      name: 'text',
      description: 'text',
      active: 'boolean',
      default_price_id: 'text',
      metadata: 'jsonb not null',
      deleted: 'boolean not null',
    },
  },
  'product',
  ({ environment, snapshot, deleted }) => {
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
  },
);
