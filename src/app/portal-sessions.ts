import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from 'zod';
import { type Environment, environmentSchema } from '../domain/environment.js';
import { type Caller, type PortalRequest, portalRequestLogEntry } from '../domain/session-requests.js';
import type { EventLog } from '../ports/event-log.js';
import type { SessionRequestsStore } from '../ports/stores.js';
import type { StripeGateway } from '../ports/stripe.js';
import { StripeGatewayError } from '../ports/stripe.js';
import { firstRowOfRequest } from '../projections/payments/index.js';
import { appendFetchedObject } from './fetched-objects.js';
import {
  deniedByPolicies,
  httpUrlSchema,
  notConnected,
  type SessionResult,
  sessionFailure,
  sessionSubjectSchema,
} from './session-requests.js';
import type { StripeConnections } from './stripe-connections/index.js';

/** `POST /api/payments/customer-portal-sessions` and the SDK's `createCustomerPortalSession`. */
export const customerPortalSessionRequestSchema = z
  .object({
    environment: environmentSchema,
    subject: sessionSubjectSchema,
    returnUrl: httpUrlSchema,
    /** A Billing Portal configuration (`bpc_…`); the account's default one otherwise. */
    configuration: z.string().regex(/^bpc_/, 'a configuration id starts with bpc_').max(255).optional(),
  })
  .strict();

export type CustomerPortalSessionRequestBody = z.infer<typeof customerPortalSessionRequestSchema>;

/** What `POST /api/payments/customer-portal-sessions` answers (201), as `/docs` publishes it. */
export const customerPortalSessionAnswerSchema = z.strictObject({
  id: z.string().describe('The row id in payments.customer_portal_sessions'),
  portalSessionId: z.string(),
  url: z.string(),
  returnUrl: z.string(),
  subject: z.strictObject({ type: z.string(), id: z.string() }),
});

export type CustomerPortalSessionAnswer = z.infer<typeof customerPortalSessionAnswerSchema>;

/**
 * The features of the configuration Payfold creates for an account that has none: what a customer
 * expects of a billing page (see invoices, change card and details, cancel at period end).
 */
const defaultPortalConfiguration: Stripe.BillingPortal.ConfigurationCreateParams = {
  features: {
    customer_update: { enabled: true, allowed_updates: ['email', 'address', 'name', 'phone', 'tax_id'] },
    invoice_history: { enabled: true },
    payment_method_update: { enabled: true },
    subscription_cancel: { enabled: true, mode: 'at_period_end' },
  },
};

export interface PortalSessionsDeps {
  connections: StripeConnections;
  gateway: StripeGateway;
  log: EventLog;
  store: SessionRequestsStore;
}

/**
 * Billing Portal sessions for a signed-in caller whose subject has a customer. Like a checkout
 * request, the first write runs as the caller, so the app's policies decide.
 */
export const portalSessions = ({ connections, gateway, log, store }: PortalSessionsDeps) => {
  /** Environments known to have a portal configuration (the default one, or Payfold's). */
  const configured = new Set<Environment>();

  /** Stripe refuses portal sessions until the account has a configuration: make one if none. */
  const ensureConfiguration = async (environment: Environment, secretKey: string): Promise<void> => {
    if (configured.has(environment)) return;
    const existing = await gateway.call(environment, secretKey, ({ stripe }) =>
      stripe.billingPortal.configurations.list({ limit: 1 }),
    );
    if (existing.data.length === 0) {
      const created = await gateway.call(environment, secretKey, ({ stripe, requestOptions }) =>
        stripe.billingPortal.configurations.create(defaultPortalConfiguration, requestOptions),
      );
      const configuration = await appendFetchedObject(log, environment, created);
      await connections.recordPortalConfiguration(environment, configuration.id);
    }
    configured.add(environment);
  };

  return {
    async create(
      caller: Caller,
      body: CustomerPortalSessionRequestBody,
    ): Promise<SessionResult<{ customerPortalSession: CustomerPortalSessionAnswer }>> {
      if (caller.role === 'anon') {
        return {
          ok: false,
          status: 403,
          code: 'sign_in_required',
          message: 'The billing portal is for signed-in users: the token has no subject (sub)',
        };
      }
      const { environment } = body;
      const secretKey = await connections.secretKey(environment);
      if (!secretKey) return notConnected(environment);
      const customerId = await store.customerOfSubject(environment, body.subject);
      const request: PortalRequest = {
        id: randomUUID(),
        requestedAt: Math.floor(Date.now() / 1000),
        requester: { role: caller.role, userId: caller.userId },
        subject: body.subject,
        customerId: customerId ?? '',
        returnUrl: body.returnUrl,
        configuration: body.configuration ?? null,
      };
      const entry = portalRequestLogEntry(environment, request, { status: 'initialized' });
      // Whether the caller may ask is decided before whether the subject has a customer, so
      // that a caller learns nothing about subjects it may not bill.
      const begun = await store.begin({
        caller,
        table: 'payments.customer_portal_sessions',
        row: await firstRowOfRequest(entry),
        entry,
        checkOnly: customerId === null,
      });
      if (begun.status === 'denied') return deniedByPolicies('open the portal for this subject');
      if (customerId === null) {
        return {
          ok: false,
          status: 404,
          code: 'no_customer_mapping',
          message: `${body.subject.type}:${body.subject.id} has no Stripe customer in ${environment} yet`,
        };
      }
      try {
        await ensureConfiguration(environment, secretKey);
        const created = await gateway.call(
          environment,
          secretKey,
          ({ stripe, requestOptions }) =>
            stripe.billingPortal.sessions.create(
              {
                customer: customerId,
                return_url: body.returnUrl,
                ...(body.configuration && { configuration: body.configuration }),
              },
              requestOptions,
            ),
          `payfold-portal-${request.id}`,
        );
        await log.append(
          portalRequestLogEntry(environment, request, {
            status: 'created',
            session: {
              id: created.id,
              url: created.url,
              customer: created.customer,
              configuration:
                typeof created.configuration === 'string' ? created.configuration : created.configuration.id,
            },
          }),
        );
        return {
          ok: true,
          status: 201,
          body: {
            customerPortalSession: {
              id: request.id,
              portalSessionId: created.id,
              url: created.url,
              returnUrl: body.returnUrl,
              subject: body.subject,
            },
          },
        };
      } catch (error) {
        if (!(error instanceof StripeGatewayError)) throw error;
        const failure = sessionFailure(error);
        await log.append(
          portalRequestLogEntry(environment, request, { status: 'failed', failure: failure.recorded }),
        );
        return failure.result;
      }
    },
  };
};

export type PortalSessions = ReturnType<typeof portalSessions>;
