import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { StripeAccess } from '../../app/stripe-access.js';
import { type Environment, environmentSchema } from '../../domain/environment.js';
import { syncObjectKinds } from '../../domain/sync-kinds.js';
import { errorBody, invalid } from '../errors.js';
import { reconcileAnswer, syncAnswer } from './answers.js';
import { admin } from './route-doc.js';

const syncBody = z
  .object({
    environment: z.union([environmentSchema, z.literal('all')]),
    objects: z.array(z.enum(syncObjectKinds)).min(1).optional(),
  })
  .strict();

const reconcileBody = z.object({ environment: environmentSchema, dryRun: z.boolean().optional() }).strict();

/** `/api/admin/payments/sync` and `/api/admin/reconcile`: the account into the log, and drift. */
export const adminSyncPlugin: FastifyPluginAsync<{ stripe: StripeAccess }> = async (app, { stripe }) => {
  // Answers when every page is in the log; the tables follow as the projections catch up.
  app.post(
    '/api/admin/payments/sync',
    admin(
      'Backfill from Stripe; answers when every page is in the log',
      { body: syncBody, answer: syncAnswer },
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

  // Answers when done: it lists the whole account, under the rate limit.
  app.post(
    '/api/admin/reconcile',
    admin(
      'Compare the tables with Stripe (missed events, objects, ties, tables); repair by appending, unless a dry run',
      { body: reconcileBody, answer: reconcileAnswer },
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
};
