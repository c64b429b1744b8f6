import type { Environment } from '../../../domain/environment.js';
import { setupIntentSchema } from '../../../domain/stripe/objects.js';
import { type DerivedTable, subjectColumns } from './table.js';

const columns = {
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
} as const;

/** `payments.setup_intents`: cards saved without a payment, with their customer's subject. */
export const setupIntentsTable: DerivedTable<typeof columns> = {
  name: 'payments.setup_intents',
  key: ['environment', 'setup_intent_id'],
  columns,
  rootsAffectedBy: async (changed) => (changed.objectType === 'setup_intent' ? [changed] : []),
  mappedRowRoot: (row) => ({
    environment: row.environment as Environment,
    objectType: 'setup_intent',
    objectId: row.setup_intent_id,
  }),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, 'setup_intent', objectId);
    if (!winner) return { rows: [] };
    const intent = setupIntentSchema.parse(winner.snapshot);
    const row = {
      environment,
      setup_intent_id: intent.id,
      customer_id: intent.customer,
      ...subjectColumns(await source.mappedSubject(environment, intent.customer)),
      status: intent.status,
      usage: intent.usage,
      payment_method_id: intent.payment_method,
      last_error_code: intent.last_setup_error?.code ?? null,
      last_error_message: intent.last_setup_error?.message ?? null,
      metadata: intent.metadata,
    };
    return { rows: [{ row, createdAt: winner.createdAt }] };
  },
};
