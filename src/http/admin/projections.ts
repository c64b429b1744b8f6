import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ProjectionEngine } from '../../projections/engine/index.js';
import { errorBody, invalid } from '../errors.js';
import { admin } from './route-doc.js';

const rebuildBody = z
  .object({
    projections: z.array(z.string().min(1).max(100)).max(20).optional(),
    quiet: z.boolean().optional(),
  })
  .strict();

const retryBody = z.object({ projections: z.array(z.string().min(1).max(100)).max(20).optional() }).strict();

/** `/api/admin/projections`: each projection's state, rebuilds and retries of parked entries. */
export const adminProjectionsPlugin: FastifyPluginAsync<{ projections: ProjectionEngine }> = async (
  app,
  { projections },
) => {
  app.get('/api/admin/projections', admin('Each projection: checkpoint, lag, parked entries'), async () =>
    projections.report(),
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
      const result = await projections.rebuild({
        projections: body.data.projections,
        quiet: body.data.quiet ?? false,
        reason: 'admin',
      });
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
      const result = await projections.retryParked(body.data.projections);
      if (!result.ok) return reply.status(400).send(errorBody('unknown_projection', result.message));
      return { retries: result.summaries };
    },
  );
};
