import type { Environment } from '../../../domain/environment.js';
import { sessionRequestObject } from '../../../domain/session-requests.js';
import { checkoutSessionSchema } from '../../../domain/stripe/objects.js';
import {
  isUuid,
  nameBasedUuid,
  requestIdMetadataKey,
  type Subject,
  subjectOfMetadata,
} from '../../../domain/subject.js';
import { earliest } from '../../../domain/time.js';
import {
  type DerivedTable,
  type ObjectRef,
  type RowOf,
  subjectColumns,
  type Winner,
  type WinnerSource,
} from './table.js';

const checkoutStatus: Record<string, string> = { open: 'open', complete: 'completed', expired: 'expired' };

const columns = {
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
  discounts: 'jsonb not null',
  amount_discount: 'bigint',
  success_url: 'text',
  cancel_url: 'text',
  customer_id: 'text',
  payment_intent_id: 'text',
  subscription_id: 'text',
  url: 'text',
  metadata: 'jsonb not null',
  idempotency_key: 'text',
  requested_by: 'text',
  request_fingerprint: 'text',
  last_error: 'text',
} as const;

type CheckoutSessionRow = RowOf<typeof columns>;

/** A checkout request's state as `checkoutRequestSnapshot` keeps it. */
interface RequestState {
  status: 'initialized' | 'failed' | 'created';
  mode: string;
  subject: Subject;
  line_items: unknown[];
  success_url: string;
  cancel_url: string;
  customer_email: string | null;
  metadata: Record<string, string>;
  idempotency_key: string | null;
  /** The token's `sub` of the caller who asked. */
  requested_by: string | null;
  fingerprint: string;
  last_error?: string;
}

/** The request a Checkout Session was created for, when Payfold created it. */
const requestIdOf = (metadata: Record<string, string>): string | null => {
  const requestId = metadata[requestIdMetadataKey];
  return requestId && isUuid(requestId) ? requestId.toLowerCase() : null;
};

const requestRef = (environment: Environment, requestId: string): ObjectRef => ({
  environment,
  objectType: sessionRequestObject.checkout,
  objectId: requestId,
});

/**
 * The row of a Checkout Session and of the request that asked for it, either of which may be
 * missing: a request Stripe has not answered yet (`initialized`) or refused (`failed`), a session
 * created outside Payfold. Stripe's session, once there, says the rest.
 */
const checkoutRow = (
  id: string,
  environment: Environment,
  request: RequestState | null,
  sessionWinner: Winner | null,
): CheckoutSessionRow => {
  const session = sessionWinner && checkoutSessionSchema.parse(sessionWinner.snapshot);
  if (session && !session.status) {
    // The column is not null; such an entry is parked with this reason rather than guessed at.
    throw new Error(`Checkout Session ${session.id} has no status`);
  }
  const sessionLineItems = session && session.line_items.data.length > 0 ? session.line_items.data : null;
  return {
    id,
    environment,
    checkout_session_id: session?.id ?? null,
    mode: session?.mode ?? request?.mode ?? null,
    status: session?.status
      ? (checkoutStatus[session.status] ?? session.status)
      : request?.status === 'failed'
        ? 'failed'
        : 'initialized',
    payment_status: session?.payment_status ?? null,
    ...subjectColumns((session && subjectOfMetadata(session.metadata)) ?? request?.subject ?? null),
    customer_email: session?.customer_email ?? session?.customer_details ?? request?.customer_email ?? null,
    line_items: sessionLineItems ?? request?.line_items ?? null,
    discounts: (session?.discounts ?? []).map((discount) => ({
      coupon_id: discount.coupon,
      promotion_code_id: discount.promotion_code,
    })),
    amount_discount: session?.total_details ?? null,
    success_url: session?.success_url ?? request?.success_url ?? null,
    cancel_url: session?.cancel_url ?? request?.cancel_url ?? null,
    customer_id: session?.customer ?? null,
    payment_intent_id: session?.payment_intent ?? null,
    subscription_id: session?.subscription ?? null,
    url: session?.url ?? null,
    metadata: session?.metadata ?? request?.metadata ?? {},
    idempotency_key: request?.idempotency_key ?? null,
    requested_by: request?.requested_by ?? null,
    request_fingerprint: request?.fingerprint ?? null,
    last_error: !session && request?.status === 'failed' ? (request.last_error ?? null) : null,
  };
};

/** The rows of a request: its own state and the session linked to it through its metadata. */
const rowsOfRequest = async (root: ObjectRef, source: WinnerSource) => {
  const requestWinner = await source.winner(root.environment, root.objectType, root.objectId);
  const [sessionId] = await source.linkedFrom(
    root.environment,
    root.objectId,
    requestIdMetadataKey,
    'checkout.session',
  );
  const sessionWinner =
    (await source.winner(root.environment, 'checkout.session', sessionId ?? null)) ?? null;
  if (!requestWinner && !sessionWinner) return { rows: [] };
  const row = checkoutRow(
    root.objectId,
    root.environment,
    (requestWinner?.snapshot as unknown as RequestState | undefined) ?? null,
    sessionWinner,
  );
  const createdAt = earliest(
    [requestWinner?.createdAt, sessionWinner?.createdAt].filter((at) => at !== undefined),
  );
  return { rows: [{ row, createdAt }] };
};

/**
 * `payments.checkout_sessions`: one row per Checkout Session request made through Payfold (its id
 * is the request's, which Stripe's session carries as `payfold_request_id`), and one per session
 * created outside Payfold (a name-based UUID of its `cs_` id, so that a rebuild finds the same id).
 */
export const checkoutSessionsTable: DerivedTable<typeof columns> = {
  name: 'payments.checkout_sessions',
  key: ['id'],
  columns,
  rootsAffectedBy: async (changed) => {
    if (changed.objectType === sessionRequestObject.checkout) return [changed];
    if (changed.objectType !== 'checkout.session') return [];
    const requestId = requestIdOf(checkoutSessionSchema.parse(changed.snapshot).metadata);
    return [requestId ? requestRef(changed.environment, requestId) : changed];
  },
  rowsOf: async (root, source) => {
    if (root.objectType === sessionRequestObject.checkout) return rowsOfRequest(root, source);
    const winner = await source.winner(root.environment, 'checkout.session', root.objectId);
    if (!winner) return { rows: [] };
    const row = checkoutRow(
      nameBasedUuid(`checkout.session:${winner.objectId}`),
      root.environment,
      null,
      winner,
    );
    return { rows: [{ row, createdAt: winner.createdAt }] };
  },
};
