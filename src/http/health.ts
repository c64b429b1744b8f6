import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

export interface HealthPluginOptions {
  /** Resolves when the database answers, with the count of parked entries; rejects when it does not. */
  readiness: () => Promise<{ parkedEntries: number }>;
}

const readinessTimeoutMs = 2000;

/** `/healthz`: the process is alive. `/readyz`: it can store webhooks now (Postgres answers). */
export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, { readiness }) => {
  app.get(
    '/healthz',
    {
      config: {
        doc: {
          summary: 'Liveness',
          auth: 'none',
          responses: { 200: { description: 'Alive', schema: z.strictObject({ status: z.literal('ok') }) } },
        },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: {
        doc: {
          summary: 'Readiness: Postgres answers',
          auth: 'none',
          responses: {
            200: {
              description: 'Ready (parked entries are rows missing from the tables, not an outage)',
              schema: z.strictObject({ status: z.literal('ready'), parkedEntries: z.number().int().min(0) }),
            },
            503: {
              description: 'The database is unreachable',
              schema: z.strictObject({ status: z.literal('unavailable'), reason: z.string() }),
            },
          },
        },
      },
    },
    async (_request, reply) => {
      try {
        const ready = await Promise.race([
          readiness(),
          new Promise<never>((_resolve, reject) =>
            setTimeout(() => reject(new Error('timeout')), readinessTimeoutMs).unref(),
          ),
        ]);
        // Parked entries are rows missing from the tables, not an outage: still ready.
        return { status: 'ready', parkedEntries: ready.parkedEntries };
      } catch {
        return reply.status(503).send({ status: 'unavailable', reason: 'database unreachable' });
      }
    },
  );
};
