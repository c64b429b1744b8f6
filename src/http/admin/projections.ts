import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ProjectionEngine } from '../../projections/engine/index.js';
import { errorBody, invalid } from '../errors.js';
import { dismissAnswer, projectionsReportAnswer, rebuildAnswer, retryAnswer } from './answers.js';
import { admin } from './route-doc.js';

const rebuildBody = z
  .object({
    projections: z.array(z.string().min(1).max(100)).max(20).optional(),
    quiet: z.boolean().optional(),
  })
  .strict();

const retryBody = z.object({ projections: z.array(z.string().min(1).max(100)).max(20).optional() }).strict();

const dismissBody = z
  .object({
    positions: z.array(z.number().int().min(1)).min(1).max(1000),
    projection: z.string().min(1).max(100).optional(),
    undo: z.boolean().optional(),
  })
  .strict();

/** `/api/admin/projections`: each projection's state, rebuilds and retries of parked entries. */
export const adminProjectionsPlugin: FastifyPluginAsync<{ projections: ProjectionEngine }> = async (
  app,
  { projections },
) => {
  app.get(
    '/api/admin/projections',
    admin('Each projection: checkpoint, lag, parked entries', { answer: projectionsReportAnswer }),
    async () => projections.report(),
  );

  // Answers when the live tables are the rebuilt ones: a long request for a large log.
  app.post(
    '/api/admin/projections/rebuild',
    admin(
      'Rebuild projections from the log without downtime; only rows that differ change',
      { body: rebuildBody, answer: rebuildAnswer },
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
      { body: retryBody, answer: retryAnswer },
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

  app.post(
    '/api/admin/projections/dismiss',
    admin(
      'Decide that parked entries will never apply (rebuilds and retries pass them over; the log keeps them), or with undo park them again',
      { body: dismissBody, answer: dismissAnswer },
      { 400: 'Invalid body or unknown projection', 404: 'No parked entry at a position' },
    ),
    async (request, reply) => {
      const body = dismissBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { positions, ...options } = body.data;
      const result = await projections.dismiss(positions, options);
      if (!result.ok) return reply.status(400).send(errorBody('unknown_projection', result.message));
      if (result.notParked.length > 0)
        return reply
          .status(404)
          .send(errorBody('not_parked', `No parked entry at position ${result.notParked.join(', ')}`));
      return { [options.undo ? 'parkedAgain' : 'dismissed']: result.changed };
    },
  );
};
