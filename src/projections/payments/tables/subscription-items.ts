import { subscriptionSchema } from '../../../domain/stripe/objects.js';
import type { DerivedTable } from './table.js';

const columns = {
  environment: 'text not null',
  subscription_item_id: 'text not null',
  subscription_id: 'text not null',
  price_id: 'text',
  product_id: 'text',
  quantity: 'bigint',
} as const;

/**
 * `payments.subscription_items`: the items of each subscription's winning snapshot. When Stripe
 * cut the item list short (`has_more`), items not listed are kept; a complete list replaces them.
 */
export const subscriptionItemsTable: DerivedTable<typeof columns> = {
  name: 'payments.subscription_items',
  key: ['environment', 'subscription_item_id'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === 'subscription' ? [changed] : []),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, 'subscription', objectId);
    if (!winner) return { rows: [] };
    const subscription = subscriptionSchema.parse(winner.snapshot);
    const rows = subscription.items.data.map((item) => {
      const price = item.price ?? item.plan;
      return {
        row: {
          environment,
          subscription_item_id: item.id,
          subscription_id: subscription.id,
          price_id: price?.id ?? null,
          product_id: price?.product ?? null,
          quantity: item.quantity,
        },
        createdAt: winner.createdAt,
      };
    });
    return subscription.items.complete ? { rows, completeBy: 'subscription_id' } : { rows };
  },
};
