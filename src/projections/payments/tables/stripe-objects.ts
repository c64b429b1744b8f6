import type { TableShape } from './table.js';

/**
 * `payments.stripe_objects`: the winning snapshot of every Stripe object (SPEC section 5), written
 * by the first step of the payments projection (`winning-snapshots.ts`). The
 * other tables are computed from these rows.
 */
export const stripeObjectsTable: TableShape<{
  environment: 'text not null';
  object_type: 'text not null';
  object_id: 'text not null';
  observed_at: 'timestamptz not null';
  deleted: 'boolean not null';
  snapshot: 'jsonb not null';
}> = {
  name: 'payments.stripe_objects',
  key: ['environment', 'object_type', 'object_id'],
  columns: {
    environment: 'text not null',
    object_type: 'text not null',
    object_id: 'text not null',
    observed_at: 'timestamptz not null',
    deleted: 'boolean not null',
    snapshot: 'jsonb not null',
  },
};
