import { taxIdSchema } from '../../../domain/stripe/objects.js';
import { customerMirrorTable } from './table.js';

/** `payments.tax_ids`: customers' tax ids (VAT, EIN…), with the subject and their verification. */
export const taxIdsTable = customerMirrorTable(
  {
    name: 'payments.tax_ids',
    key: ['environment', 'tax_id_id'],
    columns: {
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
    },
  },
  'tax_id',
  ({ environment, snapshot, deleted }) => {
    const taxId = taxIdSchema.parse(snapshot);
    return {
      environment,
      tax_id_id: taxId.id,
      customer_id: taxId.customer,
      type: taxId.type,
      value: taxId.value,
      country: taxId.country,
      verification_status: taxId.verification.status,
      deleted,
    };
  },
);
