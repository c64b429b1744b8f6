import { earlyFraudWarningSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable } from './table.js';

/**
 * `payments.early_fraud_warnings`: the card networks' warnings that a charge looks fraudulent
 * (Stripe Radar), actionable while a refund can still head off a dispute.
 */
export const earlyFraudWarningsTable = mirrorTable(
  {
    name: 'payments.early_fraud_warnings',
    key: ['environment', 'early_fraud_warning_id'],
    columns: {
      environment: 'text not null',
      early_fraud_warning_id: 'text not null',
      charge_id: 'text',
      payment_intent_id: 'text',
      fraud_type: 'text',
      actionable: 'boolean',
    },
  },
  'radar.early_fraud_warning',
  ({ environment, snapshot }) => {
    const warning = earlyFraudWarningSchema.parse(snapshot);
    return {
      environment,
      early_fraud_warning_id: warning.id,
      charge_id: warning.charge,
      payment_intent_id: warning.payment_intent,
      fraud_type: warning.fraud_type,
      actionable: warning.actionable,
    };
  },
);
