import { creditNoteSchema } from '../../../domain/stripe/objects.js';
import { customerMirrorTable, timestamp } from './table.js';

/**
 * `payments.credit_notes`: what each credit note took off its invoice, why, and how it was settled
 * (refunds, out of band), with the subject through the customer.
 */
export const creditNotesTable = customerMirrorTable(
  {
    name: 'payments.credit_notes',
    key: ['environment', 'credit_note_id'],
    columns: {
      environment: 'text not null',
      credit_note_id: 'text not null',
      invoice_id: 'text',
      customer_id: 'text',
      subject_type: 'text',
      subject_id: 'text',
      amount: 'bigint',
      currency: 'text',
      status: 'text',
      type: 'text',
      reason: 'text',
      refund_ids: 'jsonb not null',
      out_of_band_amount: 'bigint',
      memo: 'text',
      voided_at: 'timestamptz',
      metadata: 'jsonb not null',
    },
  },
  'credit_note',
  ({ environment, snapshot }) => {
    const note = creditNoteSchema.parse(snapshot);
    return {
      environment,
      credit_note_id: note.id,
      invoice_id: note.invoice,
      customer_id: note.customer,
      amount: note.amount,
      currency: note.currency,
      status: note.status,
      type: note.type,
      reason: note.reason,
      refund_ids: note.refund_ids,
      out_of_band_amount: note.out_of_band_amount,
      memo: note.memo,
      voided_at: timestamp(note.voided_at),
      metadata: note.metadata,
    };
  },
);
