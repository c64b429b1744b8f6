import type { Environment } from './environment.js';
import type { NewLogEntry } from './event-log.js';
import type { Subject } from './subject.js';

/**
 * Session requests: what an app asked Payfold for (a Checkout Session, a Billing Portal session),
 * logged when asked, then when Stripe created it or refused. Each request is an object of its own
 * in the projection (`payfold.checkout_request`, `payfold.portal_request`) whose winning snapshot
 * is its latest state, so its row is rebuilt from the log like any Stripe object's.
 */
export const sessionEntryType = {
  checkoutRequested: 'session.checkout.requested',
  checkoutCreated: 'session.checkout.created',
  checkoutFailed: 'session.checkout.failed',
  portalRequested: 'session.portal.requested',
  portalCreated: 'session.portal.created',
  portalFailed: 'session.portal.failed',
} as const;

export const sessionRequestObject = {
  checkout: 'payfold.checkout_request',
  portal: 'payfold.portal_request',
} as const;

/** Where a request stands: asked, refused by Stripe (it may be retried), or created. */
export type SessionRequestStatus = 'initialized' | 'failed' | 'created';

/** Who asked: the token's subject (`sub`) and the Postgres role the request ran under. */
export interface Requester {
  role: 'anon' | 'authenticated';
  userId: string | null;
}

/** Who a request runs as in Postgres: the role, and the token's claims (`request.jwt.claims`). */
export interface Caller extends Requester {
  claims: Record<string, unknown>;
}

/**
 * A verified token's caller: `authenticated` when it names a user (`sub`), else `anon`. A `role`
 * claim is not followed: the session API takes on these two roles and no other.
 */
export const callerOfClaims = (claims: Record<string, unknown>): Caller => {
  const userId = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null;
  return { role: userId ? 'authenticated' : 'anon', userId, claims };
};

export interface CheckoutRequest {
  /** The row id, `client_reference_id` and `payfold_request_id` of the session. */
  id: string;
  /** Unix seconds on Payfold's clock; every state of the request is observed at this second. */
  requestedAt: number;
  requester: Requester;
  mode: 'payment' | 'subscription';
  subject: Subject;
  lineItems: Array<{ price: string; quantity: number }>;
  successUrl: string;
  cancelUrl: string;
  customerEmail: string | null;
  /** The subject's customer when it had one: the session reuses it. */
  customerId: string | null;
  /** The app's metadata with Payfold's keys added: what the session carries in Stripe. */
  metadata: Record<string, string>;
  idempotencyKey: string | null;
  /** A hash of the request body: a reused idempotency key with another body is refused. */
  fingerprint: string;
}

export interface PortalRequest {
  id: string;
  requestedAt: number;
  requester: Requester;
  subject: Subject;
  /** The subject's customer (a portal needs one). */
  customerId: string;
  returnUrl: string;
  configuration: string | null;
}

/** What Stripe said when it refused, in one line (never a key). */
export interface SessionFailure {
  /** Milliseconds on Payfold's clock: of several failures of one request, the latest is shown. */
  failedAt: number;
  message: string;
  stripeStatus: number | null;
}

export interface PortalSessionCreated {
  id: string;
  url: string;
  customer: string;
  configuration: string | null;
}

type CheckoutEntry =
  | { status: 'initialized' }
  | { status: 'failed'; failure: SessionFailure }
  | { status: 'created'; observedAt: number; session: Record<string, unknown> & { id: string } };

type PortalEntry =
  | { status: 'initialized' }
  | { status: 'failed'; failure: SessionFailure }
  | { status: 'created'; session: PortalSessionCreated };

const requestStream = (kind: 'checkout' | 'portal', environment: Environment, id: string) =>
  `session.${kind}/${environment}/${id}`;

/**
 * The entries of a request name it, so appending one twice stores it once; each failure is its own
 * entry (a request may fail, be retried and fail again).
 */
const entryDedupeKey = (
  type: string,
  environment: Environment,
  id: string,
  state: { status: SessionRequestStatus; failure?: SessionFailure },
) => `${type}/${environment}/${id}${state.failure ? `/${state.failure.failedAt}` : ''}`;

const typeOfCheckout = {
  initialized: sessionEntryType.checkoutRequested,
  failed: sessionEntryType.checkoutFailed,
  created: sessionEntryType.checkoutCreated,
} as const;

const typeOfPortal = {
  initialized: sessionEntryType.portalRequested,
  failed: sessionEntryType.portalFailed,
  created: sessionEntryType.portalCreated,
} as const;

/** A Checkout Session request as the log keeps it: the whole request in every state. */
export const checkoutRequestLogEntry = (
  environment: Environment,
  request: CheckoutRequest,
  state: CheckoutEntry,
): NewLogEntry => {
  const type = typeOfCheckout[state.status];
  return {
    environment,
    type,
    version: 1,
    dedupeKey: entryDedupeKey(type, environment, request.id, state),
    stream: requestStream('checkout', environment, request.id),
    data: JSON.stringify({ request, ...state }),
    metadata: {},
  };
};

export const portalRequestLogEntry = (
  environment: Environment,
  request: PortalRequest,
  state: PortalEntry,
): NewLogEntry => {
  const type = typeOfPortal[state.status];
  return {
    environment,
    type,
    version: 1,
    dedupeKey: entryDedupeKey(type, environment, request.id, state),
    stream: requestStream('portal', environment, request.id),
    data: JSON.stringify({ request, ...state }),
    metadata: {},
  };
};

/**
 * The dedupe key of one of a request's entries that happen once: `initialized` (it holds the
 * request as it was made) or `created` (it holds Stripe's answer).
 */
export const requestEntryDedupeKey = (
  kind: 'checkout' | 'portal',
  status: 'initialized' | 'created',
  environment: Environment,
  id: string,
): string =>
  entryDedupeKey((kind === 'checkout' ? typeOfCheckout : typeOfPortal)[status], environment, id, { status });

export type CheckoutEntryData = { request: CheckoutRequest } & CheckoutEntry;
export type PortalEntryData = { request: PortalRequest } & PortalEntry;

/**
 * A request's state as the projection keeps it (its snapshot in `payments.stripe_objects`). The
 * same second for every state, so the winner rule orders them by status, then by `failed_at_ms`.
 */
export const checkoutRequestSnapshot = (data: CheckoutEntryData) => ({
  id: data.request.id,
  object: sessionRequestObject.checkout,
  status: data.status,
  requested_at: data.request.requestedAt,
  requested_by: data.request.requester.userId,
  mode: data.request.mode,
  subject: data.request.subject,
  line_items: data.request.lineItems,
  success_url: data.request.successUrl,
  cancel_url: data.request.cancelUrl,
  customer_email: data.request.customerEmail,
  metadata: data.request.metadata,
  idempotency_key: data.request.idempotencyKey,
  fingerprint: data.request.fingerprint,
  ...(data.status === 'failed' && {
    last_error: data.failure.message,
    failed_at_ms: data.failure.failedAt,
  }),
});

export const portalRequestSnapshot = (data: PortalEntryData) => ({
  id: data.request.id,
  object: sessionRequestObject.portal,
  status: data.status,
  requested_at: data.request.requestedAt,
  requested_by: data.request.requester.userId,
  subject: data.request.subject,
  customer_id: data.request.customerId,
  return_url: data.request.returnUrl,
  configuration: data.request.configuration,
  ...(data.status === 'failed' && {
    last_error: data.failure.message,
    failed_at_ms: data.failure.failedAt,
  }),
  ...(data.status === 'created' && {
    portal_session_id: data.session.id,
    url: data.session.url,
    configuration: data.session.configuration,
  }),
});
