import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { PayfoldOperations } from '../../app/operations.js';
import { errorBody, invalid } from '../errors.js';
import { connectAnswer, removeConnectionAnswer, statusAnswer, webhookEndpointAnswer } from './answers.js';
import { admin, environmentParams } from './route-doc.js';

const setKeyBody = z
  .object({ secretKey: z.string().min(1).max(500), force: z.boolean().optional() })
  .strict();

/** `/api/admin/payments/status` and `/api/admin/payments/config/:environment`: the Stripe connections. */
export const adminConnectionsPlugin: FastifyPluginAsync<{ operations: PayfoldOperations }> = async (
  app,
  { operations },
) => {
  const { stripe } = operations;
  app.get(
    '/api/admin/payments/status',
    admin(
      'Stripe connections (keys masked), syncs, the log head, the change stream and each projection (as payfold status)',
      { answer: statusAnswer },
    ),
    async () => operations.status(),
  );

  app.get(
    '/api/admin/payments/config/:environment/webhook-endpoint',
    admin(
      'The managed webhook endpoint as Stripe has it now (status, URL, events); null without one',
      { params: environmentParams, answer: webhookEndpointAnswer },
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
      { params: environmentParams, body: setKeyBody, answer: connectAnswer },
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

  app.delete(
    '/api/admin/payments/config/:environment',
    admin("Remove an environment's key (and its managed webhook endpoint)", {
      params: environmentParams,
      answer: removeConnectionAnswer,
    }),
    async (request, reply) => {
      const params = environmentParams.safeParse(request.params);
      if (!params.success) return reply.status(404).send(errorBody('not_found', 'Not found'));
      return { removed: await stripe.connections.remove(params.data.environment) };
    },
  );
};
