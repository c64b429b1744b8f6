import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  type CatalogResult,
  priceCreateSchema,
  productCreateSchema,
  productUpdateSchema,
} from '../app/catalog.js';
import type { PaymentsReads } from '../app/payments-reads.js';
import type { StripeAccess } from '../app/stripe-access.js';
import { type Environment, environmentSchema } from '../domain/environment.js';
import { syncObjectKinds } from '../domain/sync-kinds.js';
import type { RetrySummary } from '../projections/parked.js';
import type { RebuildSummary } from '../projections/rebuild.js';
import type { ProjectionsReport } from '../projections/status.js';
import { errorBody, invalid } from './errors.js';
import type { RouteDoc } from './openapi.js';

export interface AdminPluginOptions {
  adminToken: string | undefined;
  projectionsReport: () => Promise<ProjectionsReport>;
  /** Applies parked entries again after a fix (all projections when none is named). */
  retryParkedEntries: (
    names: string[] | undefined,
  ) => Promise<{ ok: true; summaries: RetrySummary[] } | { ok: false; message: string }>;
  /** Rebuilds the named projections (all when none), or says which name is unknown. */
  rebuildProjections: (
    names: string[] | undefined,
    quiet: boolean,
  ) => Promise<{ ok: true; summaries: RebuildSummary[] } | { ok: false; message: string }>;
  stripe: StripeAccess;
  /** What the dashboard's pages read of the tables. */
  reads: PaymentsReads;
  /** Webhook requests refused since this process started, by reason. */
  rejectedWebhooks: () => Promise<Array<{ reason: string; count: number }>>;
}

const environmentParams = z.object({ environment: environmentSchema });
const syncBody = z
  .object({
    environment: z.union([environmentSchema, z.literal('all')]),
    objects: z.array(z.enum(syncObjectKinds)).min(1).optional(),
  })
  .strict();
const withEnvironment = <T extends z.ZodRawShape>(shape: T) =>
  z.object({ environment: environmentSchema, ...shape }).strict();
const idParams = z.object({ id: z.string().min(1).max(255) });
const environmentQuery = z.object({ environment: environmentSchema });
const searchQuery = environmentQuery.extend({ search: z.string().max(255).optional() });
const webhooksQuery = environmentQuery.extend({ limit: z.coerce.number().int().min(1).max(500).optional() });
const customerParams = z.object({ customerId: z.string().min(1).max(255) });
const subjectParams = z.object({
  subjectType: z.string().min(1).max(255),
  subjectId: z.string().min(1).max(255),
});
const environmentBody = withEnvironment({});
const productCreateBody = withEnvironment(productCreateSchema.shape);
const productUpdateBody = withEnvironment(productUpdateSchema.shape);
const priceCreateBody = withEnvironment(priceCreateSchema.shape);

/** A catalog change's answer: the object Stripe returned, or the one line saying why not. */
const catalogAnswer = <T>(reply: FastifyReply, result: CatalogResult<T>) =>
  result.ok
    ? reply.status(200).send({ object: result.object })
    : reply.status(result.status).send(errorBody('catalog_change_failed', result.message));

const admin = (
  summary: string,
  extra: Omit<RouteDoc, 'summary' | 'auth' | 'responses'> = {},
  responses: Record<number, string> = {},
) => ({
  config: {
    doc: {
      summary,
      auth: 'admin' as const,
      ...extra,
      responses: { 200: 'Done', 401: 'No or wrong admin token', 503: 'The admin API is off', ...responses },
    },
  },
});

const catalogResponses = {
  400: 'Invalid body, or Stripe refused it',
  404: 'No such object in Stripe',
  409: 'Not connected',
  502: 'Stripe failed',
};

const rebuildBody = z
  .object({
    projections: z.array(z.string().min(1).max(100)).max(20).optional(),
    quiet: z.boolean().optional(),
  })
  .strict();

const retryBody = z.object({ projections: z.array(z.string().min(1).max(100)).max(20).optional() }).strict();

const reconcileBody = z.object({ environment: environmentSchema, dryRun: z.boolean().optional() }).strict();

const setKeyBody = z
  .object({ secretKey: z.string().min(1).max(500), force: z.boolean().optional() })
  .strict();

/**
 * Compares a given secret with the expected one in constant time without revealing its length:
 * both are hashed to 32 bytes first, so the comparison takes the same time whatever was sent.
 */
export const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  );

/** `/api/admin/*`: bearer `PAYFOLD_ADMIN_TOKEN`; without one configured the admin API is off. */
export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (
  app,
  { adminToken, projectionsReport, rebuildProjections, retryParkedEntries, stripe, reads, rejectedWebhooks },
) => {
  app.addHook('onRequest', async (request, reply) => {
    if (!adminToken) {
      return reply
        .status(503)
        .send(errorBody('admin_disabled', 'The admin API is off: set PAYFOLD_ADMIN_TOKEN'));
    }
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!sameSecret(token, adminToken)) {
      return reply.status(401).send(errorBody('unauthorized', 'A valid admin bearer token is required'));
    }
  });

  app.get('/api/admin/projections', admin('Each projection: checkpoint, lag, parked entries'), async () =>
    projectionsReport(),
  );

  // Answers when the live tables are the rebuilt ones: a long request for a large log.
  app.post(
    '/api/admin/projections/rebuild',
    admin(
      'Rebuild projections from the log without downtime; only rows that differ change',
      { body: rebuildBody },
      { 400: 'Invalid body or unknown projection' },
    ),
    async (request, reply) => {
      const body = rebuildBody.safeParse(request.body ?? {});
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const result = await rebuildProjections(body.data.projections, body.data.quiet ?? false);
      if (!result.ok) return reply.status(400).send(errorBody('unknown_projection', result.message));
      return { rebuilds: result.summaries };
    },
  );

  app.post(
    '/api/admin/projections/retry',
    admin(
      'Apply parked entries again, in log order, after a fix; those that apply leave the parked list',
      { body: retryBody },
      { 400: 'Invalid body or unknown projection' },
    ),
    async (request, reply) => {
      const body = retryBody.safeParse(request.body ?? {});
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const result = await retryParkedEntries(body.data.projections);
      if (!result.ok) return reply.status(400).send(errorBody('unknown_projection', result.message));
      return { retries: result.summaries };
    },
  );

  // Answers when done: it lists the whole account, under the rate limit.
  app.post(
    '/api/admin/reconcile',
    admin(
      'Compare the tables with Stripe (missed events, objects, ties, tables); repair by appending, unless a dry run',
      { body: reconcileBody },
      { 400: 'Invalid body', 409: 'Not connected', 502: 'Stripe failed' },
    ),
    async (request, reply) => {
      const body = reconcileBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const result = await stripe.reconcile(body.data.environment, body.data.dryRun ?? false);
      if (!result.ok) return reply.status(result.status).send(errorBody('reconcile_failed', result.message));
      return { report: result.report };
    },
  );

  app.get(
    '/api/admin/payments/status',
    admin('Stripe connections (keys masked), syncs and projection lag'),
    async () => ({
      connections: await stripe.connections.list(),
      syncs: { test: await stripe.syncs('test'), live: await stripe.syncs('live') },
      ...(await projectionsReport()),
    }),
  );

  app.get(
    '/api/admin/payments/catalog',
    admin('Products (not deleted) with their prices, as payments.products and payments.prices hold them', {
      query: environmentQuery,
    }),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return { products: await reads.catalog(query.data.environment) };
    },
  );

  app.get(
    '/api/admin/payments/customers',
    admin('Customers by subject (type:id), customer id, or part of an email or name; the newest 50', {
      query: searchQuery,
    }),
    async (request, reply) => {
      const query = searchQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return { customers: await reads.searchCustomers(query.data.environment, query.data.search ?? '') };
    },
  );

  app.get(
    '/api/admin/payments/customers/:customerId',
    admin("A customer's mapping, subscriptions with items, invoices, payments, refunds, disputes", {
      params: customerParams,
      query: environmentQuery,
    }),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      const { customerId } = customerParams.parse(request.params);
      return { overview: await reads.overview(query.data.environment, { customerId }) };
    },
  );

  app.get(
    '/api/admin/payments/subjects/:subjectType/:subjectId',
    admin(
      "A subject's customers and mapping, subscriptions with items, invoices, payments, refunds, disputes",
      {
        params: subjectParams,
        query: environmentQuery,
      },
    ),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      const { subjectType, subjectId } = subjectParams.parse(request.params);
      return {
        overview: await reads.overview(query.data.environment, {
          subject: { type: subjectType, id: subjectId },
        }),
      };
    },
  );

  app.get(
    '/api/admin/webhooks',
    admin(
      'Recent webhook deliveries with redelivery counts, events per minute over the last day, and refused requests by reason since the process started',
      { query: webhooksQuery },
    ),
    async (request, reply) => {
      const query = webhooksQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return {
        ...(await reads.webhookActivity(query.data.environment, query.data.limit ?? 50)),
        rejected: await rejectedWebhooks(),
      };
    },
  );

  app.get(
    '/api/admin/payments/config/:environment/webhook-endpoint',
    admin(
      'The managed webhook endpoint as Stripe has it now (status, URL, events); null without one',
      { params: environmentParams },
      { 502: 'Stripe failed' },
    ),
    async (request, reply) => {
      const params = environmentParams.safeParse(request.params);
      if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
      const result = await stripe.connections.webhookEndpoint(params.data.environment);
      if (!result.ok) return reply.status(502).send(errorBody('stripe_failed', result.message));
      return { endpoint: result.endpoint };
    },
  );

  app.put(
    '/api/admin/payments/config/:environment',
    admin(
      'Connect a Stripe key to an environment (validated, then the first sync starts)',
      { params: environmentParams, body: setKeyBody },
      {
        400: 'Invalid body or key',
        409: 'The key belongs to another account (force it)',
        502: 'Stripe failed',
      },
    ),
    async (request, reply) => {
      const params = environmentParams.safeParse(request.params);
      if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
      const body = setKeyBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const result = await stripe.connect(params.data.environment, body.data.secretKey, {
        force: body.data.force ?? false,
        firstSync: 'background',
      });
      if (!result.ok)
        return reply
          .status(result.refusal.status)
          .send(errorBody(result.refusal.code, result.refusal.message));
      return {
        connection: result.connection,
        webhook: result.webhook,
        ...(result.switchedFrom && { switchedFrom: result.switchedFrom }),
        // A newly connected account's first sync runs after the answer.
        ...(result.firstSync && { firstSync: 'started' }),
      };
    },
  );

  // Answers when every page is in the log; the tables follow as the projections catch up.
  app.post(
    '/api/admin/payments/sync',
    admin(
      'Backfill from Stripe; answers when every page is in the log',
      { body: syncBody },
      { 400: 'Invalid body', 409: 'Not connected', 502: 'Stripe failed' },
    ),
    async (request, reply) => {
      const body = syncBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const environments: Environment[] =
        body.data.environment === 'all' ? ['test', 'live'] : [body.data.environment];
      const summaries = [];
      for (const environment of environments) {
        const result = await stripe.sync(environment, body.data.objects);
        if (!result.ok) {
          if (body.data.environment === 'all' && result.status === 409) continue;
          return reply.status(result.status).send(errorBody('sync_failed', result.message));
        }
        summaries.push(result.summary);
      }
      return { syncs: summaries };
    },
  );

  app.post(
    '/api/admin/payments/products',
    admin('Create a product in Stripe, then log it', { body: productCreateBody }, catalogResponses),
    async (request, reply) => {
      const body = productCreateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      return catalogAnswer(reply, await stripe.catalog.createProduct(environment, input));
    },
  );

  app.patch(
    '/api/admin/payments/products/:id',
    admin(
      'Update a product in Stripe, then log it',
      { params: idParams, body: productUpdateBody },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = productUpdateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.updateProduct(environment, id, input));
    },
  );

  app.post(
    '/api/admin/payments/products/:id/archive',
    admin('Archive a product (active: false)', { params: idParams, body: environmentBody }, catalogResponses),
    async (request, reply) => {
      const body = environmentBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.archiveProduct(body.data.environment, id));
    },
  );

  app.post(
    '/api/admin/payments/prices',
    admin('Create a price in Stripe, then log it', { body: priceCreateBody }, catalogResponses),
    async (request, reply) => {
      const body = priceCreateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      return catalogAnswer(reply, await stripe.catalog.createPrice(environment, input));
    },
  );

  app.post(
    '/api/admin/payments/prices/:id/archive',
    admin('Archive a price (active: false)', { params: idParams, body: environmentBody }, catalogResponses),
    async (request, reply) => {
      const body = environmentBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.archivePrice(body.data.environment, id));
    },
  );

  app.delete(
    '/api/admin/payments/config/:environment',
    admin("Remove an environment's key (and its managed webhook endpoint)", { params: environmentParams }),
    async (request, reply) => {
      const params = environmentParams.safeParse(request.params);
      if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
      return { removed: await stripe.connections.remove(params.data.environment) };
    },
  );
};
