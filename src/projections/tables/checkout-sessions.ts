import { checkoutSessionSchema } from '../../domain/stripe/objects.js';
import { isUuid, nameBasedUuid, requestIdMetadataKey, subjectOfMetadata } from '../../domain/subject.js';
import { mirrorTable, subjectColumns } from './table.js';

const checkoutStatus: Record<string, string> = { open: 'open', complete: 'completed', expired: 'expired' };

/**
 * The row id of a Checkout Session: the id of the Payfold request that created it when its
 * metadata names one, else a name-based UUID of the `cs_` id, so that a rebuild finds the same id.
 */
const checkoutSessionRowId = (sessionId: string, metadata: Record<string, string>): string => {
  const requestId = metadata[requestIdMetadataKey];
  return requestId && isUuid(requestId)
    ? requestId.toLowerCase()
    : nameBasedUuid(`checkout.session:${sessionId}`);
};

/** `payments.checkout_sessions`: one row per Checkout Session, on the row its Payfold request made. */
export const checkoutSessionsTable = mirrorTable(
  {
    name: 'payments.checkout_sessions',
    key: ['id'],
    columns: {
      id: 'uuid not null',
      environment: 'text not null',
      checkout_session_id: 'text',
      mode: 'text',
      status: 'text not null',
      payment_status: 'text',
      subject_type: 'text',
      subject_id: 'text',
      customer_email: 'text',
      line_items: 'jsonb',
      success_url: 'text',
      cancel_url: 'text',
      customer_id: 'text',
      payment_intent_id: 'text',
      subscription_id: 'text',
      url: 'text',
      metadata: 'jsonb not null',
    },
    // Written by the session API when a request is made or fails.
    otherColumns: { idempotency_key: 'text', last_error: 'text' },
  },
  'checkout.session',
  ({ environment, snapshot }) => {
    const session = checkoutSessionSchema.parse(snapshot);
    // The column is not null; such an entry is parked with this reason rather than guessed at.
    if (!session.status) throw new Error(`Checkout Session ${session.id} has no status`);
    return {
      id: checkoutSessionRowId(session.id, session.metadata),
      environment,
      checkout_session_id: session.id,
      mode: session.mode,
      status: checkoutStatus[session.status] ?? session.status,
      payment_status: session.payment_status,
      ...subjectColumns(subjectOfMetadata(session.metadata)),
      customer_email: session.customer_email ?? session.customer_details,
      line_items: session.line_items.data.length > 0 ? session.line_items.data : null,
      success_url: session.success_url,
      cancel_url: session.cancel_url,
      customer_id: session.customer,
      payment_intent_id: session.payment_intent,
      subscription_id: session.subscription,
      url: session.url,
      metadata: session.metadata,
    };
  },
);
