import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type AdminPluginOptions, adminPlugin } from './admin/index.js';
import { type DashboardPluginOptions, dashboardPlugin } from './dashboard.js';
import { docsPlugin } from './docs.js';
import { replyWithError } from './errors.js';
import { type HealthPluginOptions, healthPlugin } from './health.js';
import { type MetricsPluginOptions, metricsPlugin } from './metrics.js';
import { type RegisteredRoute, routeCatalog } from './openapi.js';
import { type SessionsPluginOptions, sessionsPlugin } from './sessions.js';
import { type StripeWebhooksPluginOptions, stripeWebhooksPlugin } from './webhooks.js';

/** What each plugin is given: functions over the application, never a database. */
export interface HttpAppDeps {
  logger: Logger;
  /** Payfold's version, for `/docs/json`. */
  version: string;
  health: HealthPluginOptions;
  metrics: MetricsPluginOptions;
  webhooks: StripeWebhooksPluginOptions;
  sessions: SessionsPluginOptions;
  dashboard: DashboardPluginOptions;
  admin: AdminPluginOptions;
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
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((_request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: 'Not found' } }),
  );
  app.register(docsPlugin, { catalog, version: deps.version });
  app.register(healthPlugin, deps.health);
  app.register(metricsPlugin, deps.metrics);
  app.register(stripeWebhooksPlugin, deps.webhooks);
  app.register(sessionsPlugin, deps.sessions);
  app.register(dashboardPlugin, deps.dashboard);
  app.register(adminPlugin, deps.admin);
  return app as unknown as FastifyInstance;
};
