import type { Environment } from '../../../domain/environment.js';
import {
  activeEntitlementSummarySchema,
  activeEntitlementSummaryType,
} from '../../../domain/stripe/objects.js';
import { type DerivedTable, subjectColumns } from './table.js';

const columns = {
  environment: 'text not null',
  customer_id: 'text not null',
  lookup_key: 'text not null',
  subject_type: 'text',
  subject_id: 'text',
  feature_id: 'text',
  active_entitlement_id: 'text not null',
} as const;

/**
 * `payments.entitlements`: the features each customer may use now, one row per (customer, feature
 * lookup key), with the customer's subject. Built from the customer's latest active entitlement
 * summary, which Stripe sends whole each time it changes: a feature it no longer lists loses its row.
 */
export const entitlementsTable: DerivedTable<typeof columns> = {
  name: 'payments.entitlements',
  key: ['environment', 'customer_id', 'lookup_key'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === activeEntitlementSummaryType ? [changed] : []),
  mappedRowRoot: (row) => ({
    environment: row.environment as Environment,
    objectType: activeEntitlementSummaryType,
    objectId: row.customer_id,
  }),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, activeEntitlementSummaryType, objectId);
    if (!winner) return { rows: [] };
    const summary = activeEntitlementSummarySchema.parse(winner.snapshot);
    const subject = subjectColumns(await source.mappedSubject(environment, summary.customer));
    // One row per lookup key: Stripe keys a customer's entitlements by it.
    const byLookupKey = new Map(
      summary.entitlements.data.map((entitlement) => [entitlement.lookup_key, entitlement]),
    );
    const rows = [...byLookupKey.values()].map((entitlement) => ({
      row: {
        environment,
        customer_id: summary.customer,
        lookup_key: entitlement.lookup_key,
        ...subject,
        feature_id: entitlement.feature,
        active_entitlement_id: entitlement.id,
      },
      createdAt: winner.createdAt,
    }));
    // A whole list replaces the customer's rows; one Stripe cut short (`has_more`) only adds.
    return summary.entitlements.complete ? { rows, completeBy: 'customer_id' } : { rows };
  },
};
