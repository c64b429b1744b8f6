import { refundSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/** `payments.refunds`: one row per Stripe refund. */
export const refundsTable = mirrorTable(
  {
    name: 'payments.refunds',
    key: ['environment', 'refund_id'],
    columns: {
      environment: 'text not null',
      refund_id: 'text not null',
      charge_id: 'text',
      payment_intent_id: 'text',
      amount: 'bigint',
      currency: 'text',
      status: 'text',
      reason: 'text',
      metadata: 'jsonb not null',
    },
  },
  'refund',
  ({ environment, snapshot }) => {
    const refund = refundSchema.parse(snapshot);
    return {
      environment,
      refund_id: refund.id,
      charge_id: refund.charge,
      payment_intent_id: refund.payment_intent,
      amount: refund.amount,
      currency: refund.currency,
      status: refund.status,
      reason: refund.reason,
      metadata: refund.metadata,
    };
  },
);
