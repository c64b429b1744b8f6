import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ProjectionsReport } from '../projections/status.js';
import { errorBody } from './errors.js';

export interface AdminPluginOptions {
  adminToken: string | undefined;
  projectionsReport: () => Promise<ProjectionsReport>;
}

const sameToken = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** `/api/admin/*`: bearer `PAYFOLD_ADMIN_TOKEN`; without one configured the admin API is off. */
export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (
  app,
  { adminToken, projectionsReport },
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
};
