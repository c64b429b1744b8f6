import type { FastifyPluginAsync } from 'fastify';

export interface HealthPluginOptions {
  /** Resolves when the database answers, with the count of parked entries; rejects when it does not. */
  readiness: () => Promise<{ parkedEntries: number }>;
}

const readinessTimeoutMs = 2000;

/** `/healthz`: the process is alive. `/readyz`: it can store webhooks now (Postgres answers). */
export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, { readiness }) => {
  app.get(
    '/healthz',
    { config: { doc: { summary: 'Liveness', auth: 'none', responses: { 200: 'Alive' } } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: {
        doc: {
          summary: 'Readiness: Postgres answers',
          auth: 'none',
          responses: { 200: 'Ready', 503: 'The database is unreachable' },
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
