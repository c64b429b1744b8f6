import type { Environment } from '../../../domain/environment.js';
import { taxIdSchema } from '../../../domain/stripe/objects.js';
import { type DerivedTable, subjectColumns } from './table.js';

const columns = {
  environment: 'text not null',
  tax_id_id: 'text not null',
  customer_id: 'text',
  subject_type: 'text',
  subject_id: 'text',
  type: 'text',
  value: 'text',
  country: 'text',
  verification_status: 'text',
  deleted: 'boolean not null',
} as const;

/** `payments.tax_ids`: customers' tax ids (VAT, EIN…), with the subject and their verification. */
export const taxIdsTable: DerivedTable<typeof columns> = {
  name: 'payments.tax_ids',
  key: ['environment', 'tax_id_id'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === 'tax_id' ? [changed] : []),
  mappedRowRoot: (row) => ({
    environment: row.environment as Environment,
    objectType: 'tax_id',
    objectId: row.tax_id_id,
  }),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, 'tax_id', objectId);
    if (!winner) return { rows: [] };
    const taxId = taxIdSchema.parse(winner.snapshot);
    const row = {
      environment,
      tax_id_id: taxId.id,
      customer_id: taxId.customer,
      ...subjectColumns(await source.mappedSubject(environment, taxId.customer)),
      type: taxId.type,
      value: taxId.value,
      country: taxId.country,
      verification_status: taxId.verification.status,
      deleted: winner.deleted,
    };
    return { rows: [{ row, createdAt: winner.createdAt }] };
  },
};
