import { setupIntentSchema } from '../../../domain/stripe/objects.js';
import { customerMirrorTable } from './table.js';

/** `payments.setup_intents`: cards saved without a payment, with their customer's subject. */
export const setupIntentsTable = customerMirrorTable(
  {
    name: 'payments.setup_intents',
    key: ['environment', 'setup_intent_id'],
    columns: {
      environment: 'text not null',
      setup_intent_id: 'text not null',
      customer_id: 'text',
      subject_type: 'text',
      subject_id: 'text',
      status: 'text',
      usage: 'text',
      payment_method_id: 'text',
      last_error_code: 'text',
      last_error_message: 'text',
      metadata: 'jsonb not null',
    },
  },
  'setup_intent',
  ({ environment, snapshot }) => {
    const intent = setupIntentSchema.parse(snapshot);
    return {
      environment,
      setup_intent_id: intent.id,
      customer_id: intent.customer,
      status: intent.status,
      usage: intent.usage,
      payment_method_id: intent.payment_method,
      last_error_code: intent.last_setup_error?.code ?? null,
      last_error_message: intent.last_setup_error?.message ?? null,
      metadata: intent.metadata,
    };
  },
);
