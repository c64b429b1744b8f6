import { invoiceSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable, timestamp } from './table.js';

/** `payments.invoices`: one row per Stripe invoice. */
export const invoicesTable = mirrorTable(
  {
    name: 'payments.invoices',
    key: ['environment', 'invoice_id'],
    columns: {
      environment: 'text not null',
      invoice_id: 'text not null',
      customer_id: 'text',
      subscription_id: 'text',
      status: 'text',
      amount_due: 'bigint',
      amount_paid: 'bigint',
      amount_discounted: 'bigint',
      amount_credited: 'bigint',
      currency: 'text',
      hosted_invoice_url: 'text',
      paid_at: 'timestamptz',
      metadata: 'jsonb not null',
      deleted: 'boolean not null',
    },
  },
  'invoice',
  ({ environment, snapshot, deleted }) => {
    const invoice = invoiceSchema.parse(snapshot);
    return {
      environment,
      invoice_id: invoice.id,
      customer_id: invoice.customer,
      subscription_id: invoice.subscription,
      status: invoice.status,
      amount_due: invoice.amount_due,
      amount_paid: invoice.amount_paid,
      amount_discounted: invoice.amount_discounted,
      amount_credited: invoice.amount_credited,
      currency: invoice.currency,
      hosted_invoice_url: invoice.hosted_invoice_url,
      paid_at: timestamp(invoice.paid_at),
      metadata: invoice.metadata,
      deleted,
    };
  },
);
