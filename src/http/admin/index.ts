import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { PayfoldOperations } from '../../app/operations.js';
import { errorBody } from '../errors.js';
import { adminCatalogPlugin } from './catalog.js';
import { adminConnectionsPlugin } from './connections.js';
import { adminProjectionsPlugin } from './projections.js';
import { adminReadsPlugin } from './reads.js';
import { adminSyncPlugin } from './sync-and-reconcile.js';

export interface AdminPluginOptions {
  adminToken: string | undefined;
  /** Webhook requests refused since this process started, by reason. */
  rejectedWebhooks: () => Promise<Array<{ reason: string; count: number }>>;
  /** The operations the `payfold` commands call too. */
  operations: PayfoldOperations;
}

/**
 * Compares a given secret with the expected one in constant time without revealing its length:
 * both are hashed to 32 bytes first, so the comparison takes the same time whatever was sent.
 */
export const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  );

/**
 * `/api/admin/*`: bearer `PAYFOLD_ADMIN_TOKEN`; without one configured the admin API is off. One
 * plugin per resource, each over the operations the CLI calls.
 */
export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (
  app,
  { adminToken, operations, rejectedWebhooks },
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
  await app.register(adminProjectionsPlugin, { projections: operations.projections });
  await app.register(adminConnectionsPlugin, { operations });
  await app.register(adminSyncPlugin, { stripe: operations.stripe });
  await app.register(adminCatalogPlugin, { stripe: operations.stripe });
  await app.register(adminReadsPlugin, { reads: operations.reads, rejectedWebhooks });
};
