import { createHash, randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from 'zod';
import { type Environment, environmentSchema } from '../domain/environment.js';
import {
  type Caller,
  type CheckoutEntryData,
  type CheckoutRequest,
  checkoutRequestLogEntry,
  requestEntryDedupeKey,
} from '../domain/session-requests.js';
import { canonicalJson } from '../domain/stripe/canonical.js';
import { requestIdMetadataKey, subjectMetadata } from '../domain/subject.js';
import type { EventLog } from '../ports/event-log.js';
import type { SessionRequestsStore } from '../ports/stores.js';
import type { StripeGateway } from '../ports/stripe.js';
import { observationOf, StripeGatewayError, type WithResponse } from '../ports/stripe.js';
import { firstRowOfRequest } from '../projections/payments/index.js';
import { appendFetchedObject } from './fetched-objects.js';
import {
  deniedByPolicies,
  httpUrlSchema,
  notConnected,
  type SessionResult,
  sessionFailure,
  sessionSubjectSchema,
  singleFlight,
  userMetadataSchema,
} from './session-requests.js';
import type { StripeConnections } from './stripe-connections/index.js';

/** `POST /api/payments/checkout-sessions` and the SDK's `createCheckoutSession`. */
export const checkoutSessionRequestSchema = z
  .object({
    environment: environmentSchema,
    mode: z.enum(['payment', 'subscription']),
    subject: sessionSubjectSchema,
    lineItems: z
      .array(
        z
          .object({
            stripePriceId: z.string().min(1).max(255),
            quantity: z.number().int().min(1).max(999).default(1),
          })
          .strict(),
      )
      .min(1)
      .max(100),
    successUrl: httpUrlSchema,
    cancelUrl: httpUrlSchema,
    customerEmail: z.email().max(512).optional(),
    metadata: userMetadataSchema.optional(),
    /**
     * One attempt of this caller for 24 hours: a retry with the same key and body answers the same
     * session (or starts a new attempt if it expired); another body with it is refused.
     */
    idempotencyKey: z.string().min(1).max(255).optional(),
  })
  .strict();

export type CheckoutSessionRequestBody = z.infer<typeof checkoutSessionRequestSchema>;

/** What `POST /api/payments/checkout-sessions` answers (201), as `/docs` publishes it. */
export const checkoutSessionAnswerSchema = z.strictObject({
  id: z.string().describe('The row id in payments.checkout_sessions'),
  checkoutSessionId: z.string(),
  url: z
    .string()
    .nullable()
    .describe('Where to send the customer while the session is open; null once it completed'),
  status: z
    .enum(['open', 'completed'])
    .describe(
      'completed: a retry of an attempt the customer already finished; send them to the success page',
    ),
  mode: z.string(),
  subject: z.strictObject({ type: z.string(), id: z.string() }),
  expiresAt: z.iso.datetime().nullable(),
  idempotencyKey: z.string().nullable(),
});

export type CheckoutSessionAnswer = z.infer<typeof checkoutSessionAnswerSchema>;

/**
 * What Stripe is asked for: a pure function of the request, so that a retry sends the same
 * parameters under the same idempotency key and Stripe answers with the same session.
 */
const stripeParamsOf = (request: CheckoutRequest): Stripe.Checkout.SessionCreateParams => {
  const carried = {
    ...subjectMetadata(request.subject),
    [requestIdMetadataKey]: request.id,
  };
  return {
    mode: request.mode,
    line_items: request.lineItems.map(({ price, quantity }) => ({ price, quantity })),
    success_url: request.successUrl,
    cancel_url: request.cancelUrl,
    client_reference_id: request.id,
    metadata: request.metadata,
    ...(request.customerId
      ? { customer: request.customerId }
      : {
          ...(request.customerEmail && { customer_email: request.customerEmail }),
          // A subscription always gets a customer; a payment must ask for one to map the subject.
          ...(request.mode === 'payment' && { customer_creation: 'always' as const }),
        }),
    ...(request.mode === 'subscription'
      ? { subscription_data: { metadata: { ...request.metadata, ...carried } } }
      : { payment_intent_data: { metadata: { ...request.metadata, ...carried } } }),
  };
};

const answerOf = (request: CheckoutRequest, session: Stripe.Checkout.Session): CheckoutSessionAnswer => {
  const completed = session.status === 'complete';
  return {
    id: request.id,
    checkoutSessionId: session.id,
    url: completed ? null : session.url,
    status: completed ? 'completed' : 'open',
    mode: request.mode,
    subject: request.subject,
    expiresAt: session.expires_at ? new Date(session.expires_at * 1000).toISOString() : null,
    idempotencyKey: request.idempotencyKey,
  };
};

export interface CheckoutSessionsDeps {
  connections: StripeConnections;
  gateway: StripeGateway;
  log: EventLog;
  store: SessionRequestsStore;
}

type CheckoutResult = SessionResult<{ checkoutSession: CheckoutSessionAnswer }>;

/**
 * Asks Stripe for an attempt's session under the attempt's own idempotency key, then appends what
 * Stripe answered: the session, or the refusal.
 */
const createStripeSession = async (
  { gateway, log }: CheckoutSessionsDeps,
  environment: Environment,
  secretKey: string,
  request: CheckoutRequest,
): Promise<CheckoutResult> => {
  let answered: Stripe.Checkout.Session & WithResponse;
  try {
    answered = await gateway.call(
      environment,
      secretKey,
      ({ stripe, requestOptions }) =>
        stripe.checkout.sessions.create(stripeParamsOf(request), requestOptions),
      `payfold-checkout-${request.id}`,
    );
  } catch (error) {
    if (!(error instanceof StripeGatewayError)) throw error;
    const failure = sessionFailure(error);
    await log.append(
      checkoutRequestLogEntry(environment, request, { status: 'failed', failure: failure.recorded }),
    );
    return failure.result;
  }
  const { object: session, observedAt } = observationOf(answered);
  await log.append(
    checkoutRequestLogEntry(environment, request, {
      status: 'created',
      observedAt: observedAt ?? Math.floor(Date.now() / 1000),
      session: session as unknown as Record<string, unknown> & { id: string },
    }),
  );
  return { ok: true, status: 201, body: { checkoutSession: answerOf(request, session) } };
};

/** A new attempt: its request, as the log and Stripe will carry it. */
const newCheckoutRequest = async (
  store: SessionRequestsStore,
  caller: Caller,
  body: CheckoutSessionRequestBody,
): Promise<CheckoutRequest> => {
  const id = randomUUID();
  return {
    id,
    requestedAt: Math.floor(Date.now() / 1000),
    requester: { role: caller.role, userId: caller.userId },
    mode: body.mode,
    subject: body.subject,
    lineItems: body.lineItems.map((item) => ({ price: item.stripePriceId, quantity: item.quantity })),
    successUrl: body.successUrl,
    cancelUrl: body.cancelUrl,
    customerEmail: body.customerEmail ?? null,
    customerId: await store.customerOfSubject(body.environment, body.subject),
    metadata: { ...body.metadata, ...subjectMetadata(body.subject), [requestIdMetadataKey]: id },
    idempotencyKey: body.idempotencyKey ?? null,
    fingerprint: fingerprintOf(body),
  };
};

/**
 * A retry of an earlier attempt under the caller's idempotency key. Not answered by Stripe yet
 * (or refused): Stripe is asked again under the attempt's own idempotency key. Answered: the
 * session is read again, since it may have completed or expired since; an expired one is
 * `expired`, for a new attempt to replace it.
 */
const resumeAttempt = async (
  deps: CheckoutSessionsDeps,
  ask: (environment: Environment, secretKey: string, request: CheckoutRequest) => Promise<CheckoutResult>,
  environment: Environment,
  secretKey: string,
  requestId: string,
): Promise<CheckoutResult | 'expired'> => {
  const { gateway, log } = deps;
  const [asked, created] = await Promise.all([
    log.entryByDedupeKey(requestEntryDedupeKey('checkout', 'initialized', environment, requestId)),
    log.entryByDedupeKey(requestEntryDedupeKey('checkout', 'created', environment, requestId)),
  ]);
  if (!asked) throw new Error(`checkout request ${requestId} has a row but no log entry`);
  const request = (asked.data as CheckoutEntryData).request;
  if (!created) return ask(environment, secretKey, request);
  const sessionId = (created.data as CheckoutEntryData & { status: 'created' }).session.id;
  let session: Stripe.Checkout.Session;
  try {
    session = await appendFetchedObject(
      log,
      environment,
      await gateway.call(environment, secretKey, ({ stripe, requestOptions }) =>
        stripe.checkout.sessions.retrieve(sessionId, {}, requestOptions),
      ),
    );
  } catch (error) {
    if (!(error instanceof StripeGatewayError)) throw error;
    return sessionFailure(error).result;
  }
  if (session.status === 'expired') return 'expired';
  return { ok: true, status: 201, body: { checkoutSession: answerOf(request, session) } };
};

/**
 * Checkout Sessions for an app's callers. A request is written first as its caller (the app's RLS
 * policies decide), with its `session.checkout.requested` entry in the same transaction; then
 * Stripe is asked under an idempotency key the request names, and its answer (or refusal) is
 * appended. The row follows from those entries and from Stripe's own events about the session.
 */
export const checkoutSessions = (deps: CheckoutSessionsDeps) => {
  const { connections, store } = deps;
  // Calls for the same attempt while one is running share its answer (one Stripe call, not twenty).
  const inFlight = singleFlight<CheckoutResult>();
  const inResume = singleFlight<CheckoutResult | 'expired'>();
  const ask = (environment: Environment, secretKey: string, request: CheckoutRequest) =>
    inFlight(request.id, () => createStripeSession(deps, environment, secretKey, request));
  const resume = (environment: Environment, secretKey: string, requestId: string) =>
    inResume(requestId, () => resumeAttempt(deps, ask, environment, secretKey, requestId));

  return {
    async create(caller: Caller, body: CheckoutSessionRequestBody): Promise<CheckoutResult> {
      const { environment } = body;
      // An anonymous token is shared by every visitor: a key scoped to it would be everyone's.
      if (body.idempotencyKey && !caller.userId) return keyNeedsUser;
      const secretKey = await connections.secretKey(environment);
      if (!secretKey) return notConnected(environment);
      let supersedes: string | undefined;
      for (;;) {
        const request = await newCheckoutRequest(store, caller, body);
        const entry = checkoutRequestLogEntry(environment, request, { status: 'initialized' });
        const begun = await store.begin({
          caller,
          table: 'payments.checkout_sessions',
          row: await firstRowOfRequest(entry),
          entry,
          ...(body.idempotencyKey && { idempotencyKey: body.idempotencyKey }),
          ...(supersedes && { supersedes }),
        });
        if (begun.status === 'denied') return deniedByPolicies('create a session for this subject');
        if (begun.status === 'begun') return ask(environment, secretKey, request);
        if (begun.fingerprint !== request.fingerprint) return keyConflict;
        const resumed = await resume(environment, secretKey, begun.requestId);
        if (resumed !== 'expired') return resumed;
        // Another retry may have replaced it first: then the next round answers that attempt.
        supersedes = begun.requestId;
      }
    },
  };
};

/** The request's body as a hash: a key reused with another body is refused. */
const fingerprintOf = (body: CheckoutSessionRequestBody): string =>
  createHash('sha256').update(canonicalJson(body)).digest('hex');

const keyNeedsUser = {
  ok: false,
  status: 400,
  code: 'idempotency_key_needs_user',
  message:
    'An idempotency key needs a signed-in caller (a token with sub): an anonymous key would be shared by every visitor',
} as const;

const keyConflict = {
  ok: false,
  status: 409,
  code: 'idempotency_conflict',
  message: 'This idempotency key was used with a different request body',
} as const;

export type CheckoutSessions = ReturnType<typeof checkoutSessions>;
