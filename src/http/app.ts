import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type {
  StripeWebhookOutcome,
  StripeWebhookRequest,
  WebhookRejection,
} from '../app/ingest-stripe-webhook.js';
import type { StripeAccess } from '../app/stripe-access.js';
import type { ProjectionsReport } from '../projections/status.js';
import { type AdminPluginOptions, adminPlugin } from './admin.js';
import { dashboardPlugin } from './dashboard.js';
import { replyWithError } from './errors.js';
import { healthPlugin } from './health.js';
import { metricsPlugin } from './metrics.js';
import { type RegisteredRoute, routeCatalog } from './openapi.js';
import { sessionsPlugin, type VerifyUserToken } from './sessions.js';
import { stripeWebhooksPlugin } from './webhooks.js';

export interface HttpAppDeps {
  logger: Logger;
  ingestStripeWebhook: (request: StripeWebhookRequest) => Promise<StripeWebhookOutcome>;
  webhookRejected: (reason: WebhookRejection) => void;
  /** Resolves when the database answers, with what readiness reports; rejects when it does not. */
  readiness: () => Promise<{ parkedEntries: number }>;
  metricsText: () => Promise<{ contentType: string; body: string }>;
  projectionsReport: () => Promise<ProjectionsReport>;
  rebuildProjections: AdminPluginOptions['rebuildProjections'];
  retryParkedEntries: AdminPluginOptions['retryParkedEntries'];
  adminToken: string | undefined;
  stripe: StripeAccess;
  reads: AdminPluginOptions['reads'];
  rejectedWebhooks: AdminPluginOptions['rejectedWebhooks'];
  verifyUserToken: VerifyUserToken | undefined;
  /** Where the built dashboard is (`dist/dashboard`). */
  dashboardDirectory: string;
  /** Payfold's version, for `/docs`. */
  version: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route of the app, documented or not (the test of `/docs` reads it). */
    registeredRoutes: RegisteredRoute[];
  }
}

/** The Fastify app: each route group is an encapsulated plugin over the application functions. */
export const buildHttpApp = (deps: HttpAppDeps): FastifyInstance => {
  const app = Fastify({
    loggerInstance: deps.logger,
    // A log line per request would cost more than the webhook itself at thousands per second.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // A client that sends its request slowly cannot hold a connection forever (handlers may run long).
    requestTimeout: 30_000,
  });
  // Every route is recorded as it is registered: `/docs` describes those that declare a doc.
  const catalog = routeCatalog();
  app.addHook('onRoute', catalog.record);
  app.decorate('registeredRoutes', catalog.routes);
  app.get(
    '/docs',
    {
      config: { doc: { summary: 'This OpenAPI document', auth: 'none', responses: { 200: 'OpenAPI 3.1' } } },
    },
    async () => catalog.document(deps.version),
  );
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((_request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: 'Not found' } }),
  );
  app.register(healthPlugin, { readiness: deps.readiness });
  app.register(metricsPlugin, { metricsText: deps.metricsText });
  app.register(stripeWebhooksPlugin, { ingest: deps.ingestStripeWebhook, rejected: deps.webhookRejected });
  app.register(sessionsPlugin, {
    verifyUserToken: deps.verifyUserToken,
    checkoutSessions: deps.stripe.checkoutSessions,
    portalSessions: deps.stripe.portalSessions,
  });
  app.register(dashboardPlugin, { directory: deps.dashboardDirectory });
  app.register(adminPlugin, {
    adminToken: deps.adminToken,
    projectionsReport: deps.projectionsReport,
    rebuildProjections: deps.rebuildProjections,
    retryParkedEntries: deps.retryParkedEntries,
    stripe: deps.stripe,
    reads: deps.reads,
    rejectedWebhooks: deps.rejectedWebhooks,
  });
  return app as unknown as FastifyInstance;
};
