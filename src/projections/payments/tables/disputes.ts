import { disputeSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/** `payments.disputes`: one row per Stripe dispute. */
export const disputesTable = mirrorTable(
  {
    name: 'payments.disputes',
    key: ['environment', 'dispute_id'],
    columns: {
      environment: 'text not null',
      dispute_id: 'text not null',
      charge_id: 'text',
      payment_intent_id: 'text',
      amount: 'bigint',
      currency: 'text',
      status: 'text',
      reason: 'text',
    },
  },
  'dispute',
  ({ environment, snapshot }) => {
    const dispute = disputeSchema.parse(snapshot);
    return {
      environment,
      dispute_id: dispute.id,
      charge_id: dispute.charge,
      payment_intent_id: dispute.payment_intent,
      amount: dispute.amount,
      currency: dispute.currency,
      status: dispute.status,
      reason: dispute.reason,
    };
  },
);
