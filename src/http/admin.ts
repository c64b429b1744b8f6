import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { StripeConnections } from '../app/stripe-connections.js';
import { environmentSchema } from '../domain/environment.js';
import type { ProjectionsReport } from '../projections/status.js';
import { errorBody } from './errors.js';

export interface AdminPluginOptions {
  adminToken: string | undefined;
  projectionsReport: () => Promise<ProjectionsReport>;
  stripeConnections: StripeConnections;
}

const environmentParams = z.object({ environment: environmentSchema });
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
  { adminToken, projectionsReport, stripeConnections },
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
    connections: await stripeConnections.list(),
    ...(await projectionsReport()),
  }));

  app.put('/api/admin/payments/config/:environment', async (request, reply) => {
    const params = environmentParams.safeParse(request.params);
    if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
    const body = setKeyBody.safeParse(request.body);
    if (!body.success) return reply.status(400).send(invalid(body.error));
    const result = await stripeConnections.connect(
      params.data.environment,
      body.data.secretKey,
      body.data.force ?? false,
    );
    if (!result.ok)
      return reply.status(result.refusal.status).send(errorBody(result.refusal.code, result.refusal.message));
    return {
      connection: result.connection,
      ...(result.switchedFrom && { switchedFrom: result.switchedFrom }),
    };
  });

  app.delete('/api/admin/payments/config/:environment', async (request, reply) => {
    const params = environmentParams.safeParse(request.params);
    if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
    return { removed: await stripeConnections.remove(params.data.environment) };
  });
};
