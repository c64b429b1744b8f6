import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { StripeAccess } from '../app/stripe-access.js';
import { type SyncObjectKind, syncObjectKinds } from '../app/sync-stripe.js';
import { type Environment, environmentSchema } from '../domain/environment.js';
import type { ProjectionsReport } from '../projections/status.js';
import { errorBody } from './errors.js';

export interface AdminPluginOptions {
  adminToken: string | undefined;
  projectionsReport: () => Promise<ProjectionsReport>;
  stripe: StripeAccess;
}

const environmentParams = z.object({ environment: environmentSchema });
const syncBody = z
  .object({
    environment: z.union([environmentSchema, z.literal('all')]),
    objects: z
      .array(z.enum(syncObjectKinds as [SyncObjectKind, ...SyncObjectKind[]]))
      .min(1)
      .optional(),
  })
  .strict();
const setKeyBody = z
  .object({ secretKey: z.string().min(1).max(500), force: z.boolean().optional() })
  .strict();

/** A request that fails its schema: 400 with the first issue, naming the field (never its value). */
const invalid = (error: z.ZodError) => {
  const issue = error.issues[0];
  return errorBody('invalid_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
};

const sameToken = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** `/api/admin/*`: bearer `PAYFOLD_ADMIN_TOKEN`; without one configured the admin API is off. */
export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (
  app,
  { adminToken, projectionsReport, stripe },
) => {
  app.addHook('onRequest', async (request, reply) => {
    if (!adminToken) {
      return reply
        .status(503)
        .send(errorBody('admin_disabled', 'The admin API is off: set PAYFOLD_ADMIN_TOKEN'));
    }
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!sameToken(token, adminToken)) {
      return reply.status(401).send(errorBody('unauthorized', 'A valid admin bearer token is required'));
    }
  });

  app.get('/api/admin/projections', async () => projectionsReport());

  app.get('/api/admin/payments/status', async () => ({
    connections: await stripe.connections.list(),
    syncs: { test: await stripe.syncs('test'), live: await stripe.syncs('live') },
    ...(await projectionsReport()),
  }));

  app.put('/api/admin/payments/config/:environment', async (request, reply) => {
    const params = environmentParams.safeParse(request.params);
    if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
    const body = setKeyBody.safeParse(request.body);
    if (!body.success) return reply.status(400).send(invalid(body.error));
    const result = await stripe.connect(params.data.environment, body.data.secretKey, {
      force: body.data.force ?? false,
      firstSync: 'background',
    });
    if (!result.ok)
      return reply.status(result.refusal.status).send(errorBody(result.refusal.code, result.refusal.message));
    return {
      connection: result.connection,
      webhook: result.webhook,
      ...(result.switchedFrom && { switchedFrom: result.switchedFrom }),
      // A newly connected account's first sync runs after the answer.
      ...(result.firstSync && { firstSync: 'started' }),
    };
  });

  // Answers when every page is in the log; the tables follow as the projections catch up.
  app.post('/api/admin/payments/sync', async (request, reply) => {
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
  });

  app.delete('/api/admin/payments/config/:environment', async (request, reply) => {
    const params = environmentParams.safeParse(request.params);
    if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
    return { removed: await stripe.connections.remove(params.data.environment) };
  });
};
