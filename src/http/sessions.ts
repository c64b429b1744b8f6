import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  type CheckoutSessions,
  checkoutSessionAnswerSchema,
  checkoutSessionRequestSchema,
} from '../app/checkout-sessions.js';
import {
  customerPortalSessionAnswerSchema,
  customerPortalSessionRequestSchema,
  type PortalSessions,
} from '../app/portal-sessions.js';
import type { SessionResult } from '../app/session-requests.js';
import { type Caller, callerOfClaims } from '../domain/session-requests.js';
import { errorBody, invalid } from './errors.js';

export type VerifyUserToken = (
  token: string,
) => Promise<{ ok: true; claims: Record<string, unknown> } | { ok: false; message: string }>;

export interface SessionsPluginOptions {
  /** Undefined when neither `PAYFOLD_JWT_SECRET` nor `PAYFOLD_JWKS_URL` is set: the session API is off. */
  verifyUserToken: VerifyUserToken | undefined;
  checkoutSessions: CheckoutSessions;
  portalSessions: PortalSessions;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const sessionErrors = {
  400: 'Invalid body, or Stripe refused the request',
  401: 'No token, or a token that is not valid',
  403: "The caller's row-level security policies refuse it (or an anonymous caller for the portal)",
  502: 'Stripe failed; recorded as failed, and safe to retry',
  503: 'The session API is off, or the environment has no Stripe key',
};

const answer = <T>(reply: FastifyReply, result: SessionResult<T>) =>
  result.ok
    ? reply.status(result.status).send(result.body)
    : reply.status(result.status).send(errorBody(result.code, result.message));

/** `/api/payments/*`: the session API an app's frontend calls with its user's token. */
export const sessionsPlugin: FastifyPluginAsync<SessionsPluginOptions> = async (
  app,
  { verifyUserToken, checkoutSessions, portalSessions },
) => {
  app.decorateRequest('caller', undefined);
  app.addHook('onRequest', async (request, reply) => {
    if (!verifyUserToken) {
      return reply
        .status(503)
        .send(
          errorBody(
            'session_api_disabled',
            'The session API is off: set PAYFOLD_JWT_SECRET or PAYFOLD_JWKS_URL',
          ),
        );
    }
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) {
      return reply.status(401).send(errorBody('unauthorized', 'A bearer token is required'));
    }
    const checked = await verifyUserToken(header.slice('Bearer '.length).trim());
    if (!checked.ok) return reply.status(401).send(errorBody('unauthorized', checked.message));
    request.caller = callerOfClaims(checked.claims);
  });

  app.post(
    '/api/payments/checkout-sessions',
    {
      config: {
        doc: {
          summary: 'Create a Stripe Checkout Session for a subject the caller may bill',
          auth: 'user',
          body: checkoutSessionRequestSchema,
          responses: {
            201: {
              description:
                "The session; for a retry with the caller's idempotency key, the same attempt (status completed, no URL, once finished), or a new one if its session expired",
              schema: z.strictObject({ checkoutSession: checkoutSessionAnswerSchema }),
            },
            ...sessionErrors,
            400: 'Invalid body, an idempotency key from an anonymous caller, or Stripe refused the request',
            409: 'The caller used this idempotency key with another body',
          },
        },
      },
    },
    async (request, reply) => {
      const body = checkoutSessionRequestSchema.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      return answer(reply, await checkoutSessions.create(request.caller as Caller, body.data));
    },
  );

  app.post(
    '/api/payments/customer-portal-sessions',
    {
      config: {
        doc: {
          summary: 'Open the Billing Portal for a subject the caller may bill',
          auth: 'user',
          body: customerPortalSessionRequestSchema,
          responses: {
            201: {
              description: 'The portal session: send the customer to its URL',
              schema: z.strictObject({ customerPortalSession: customerPortalSessionAnswerSchema }),
            },
            ...sessionErrors,
            404: 'The subject has no Stripe customer yet',
          },
        },
      },
    },
    async (request, reply) => {
      const body = customerPortalSessionRequestSchema.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      return answer(reply, await portalSessions.create(request.caller as Caller, body.data));
    },
  );
};
