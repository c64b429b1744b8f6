import { customerSchema } from '../../../domain/stripe/objects.js';
import { subjectOfMetadata } from '../../../domain/subject.js';
import { mirrorTable, subjectColumns } from './table.js';

/** `payments.customers`: one row per Stripe customer; its subject when its own metadata names one. */
export const customersTable = mirrorTable(
  {
    name: 'payments.customers',
    key: ['environment', 'customer_id'],
    columns: {
      environment: 'text not null',
      customer_id: 'text not null',
      email: 'text',
      name: 'text',
      metadata: 'jsonb not null',
      deleted: 'boolean not null',
      subject_type: 'text',
      subject_id: 'text',
    },
  },
  'customer',
  ({ environment, snapshot, deleted }) => {
    const customer = customerSchema.parse(snapshot);
    return {
      environment,
      customer_id: customer.id,
      email: customer.email,
      name: customer.name,
      metadata: customer.metadata,
      deleted,
      ...subjectColumns(subjectOfMetadata(customer.metadata)),
    };
  },
);
