import { subscriptionSchema } from '../../../domain/stripe/objects.js';
import { subjectOfMetadata } from '../../../domain/subject.js';
import { type DerivedTable, subjectColumns, timestamp } from './table.js';

const columns = {
  environment: 'text not null',
  subscription_id: 'text not null',
  customer_id: 'text',
  subject_type: 'text',
  subject_id: 'text',
  status: 'text',
  current_period_start: 'timestamptz',
  current_period_end: 'timestamptz',
  cancel_at_period_end: 'boolean not null',
  cancel_at: 'timestamptz',
  canceled_at: 'timestamptz',
  ended_at: 'timestamptz',
  trial_start: 'timestamptz',
  trial_end: 'timestamptz',
  latest_invoice_id: 'text',
  discount_ids: 'jsonb not null',
  metadata: 'jsonb not null',
} as const;

/**
 * `payments.subscriptions`: one row per subscription. Its subject comes from its metadata, else
 * from its customer's mapping. Since basil the period lives on the items; the subscription's
 * period is then that of the item ending first.
 */
export const subscriptionsTable: DerivedTable<typeof columns> = {
  name: 'payments.subscriptions',
  key: ['environment', 'subscription_id'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === 'subscription' ? [changed] : []),
  mappedRowRoot: (row) => ({
    environment: row.environment as 'test' | 'live',
    objectType: 'subscription',
    objectId: row.subscription_id,
  }),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, 'subscription', objectId);
    if (!winner) return { rows: [] };
    const subscription = subscriptionSchema.parse(winner.snapshot);
    const subject =
      subjectOfMetadata(subscription.metadata) ??
      (await source.mappedSubject(environment, subscription.customer));
    const firstEnding = subscription.items.data
      .filter((item) => item.current_period_end != null)
      .sort(
        (a, b) =>
          (a.current_period_end as number) - (b.current_period_end as number) || (a.id < b.id ? -1 : 1),
      )[0];
    const periodStart = subscription.current_period_start ?? firstEnding?.current_period_start ?? null;
    const periodEnd = subscription.current_period_end ?? firstEnding?.current_period_end ?? null;
    const row = {
      environment,
      subscription_id: subscription.id,
      customer_id: subscription.customer,
      ...subjectColumns(subject),
      status: subscription.status,
      current_period_start: timestamp(periodStart),
      current_period_end: timestamp(periodEnd),
      cancel_at_period_end: subscription.cancel_at_period_end ?? false,
      cancel_at: timestamp(subscription.cancel_at),
      canceled_at: timestamp(subscription.canceled_at),
      ended_at: timestamp(subscription.ended_at),
      trial_start: timestamp(subscription.trial_start),
      trial_end: timestamp(subscription.trial_end),
      latest_invoice_id: subscription.latest_invoice,
      discount_ids: subscription.discount_ids,
      metadata: subscription.metadata,
    };
    return { rows: [{ row, createdAt: winner.createdAt }] };
  },
};
