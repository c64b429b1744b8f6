import { priceSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/** `payments.prices`: one row per price, and per legacy plan (one id space, two shapes). */
export const pricesTable = mirrorTable(
  {
    name: 'payments.prices',
    key: ['environment', 'price_id'],
    columns: {
      environment: 'text not null',
      price_id: 'text not null',
      product_id: 'text',
      active: 'boolean',
      currency: 'text',
      unit_amount: 'bigint',
      type: 'text',
      recurring_interval: 'text',
      recurring_interval_count: 'integer',
      lookup_key: 'text',
      nickname: 'text',
      metadata: 'jsonb not null',
      deleted: 'boolean not null',
    },
  },
  'price',
  ({ environment, snapshot, deleted }) => {
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
  },
);
