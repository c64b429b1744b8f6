import type { FastifyPluginAsync } from 'fastify';

export interface HealthPluginOptions {
  /** Resolves when the database answers; rejects or times out when it does not. */
  checkDatabase: () => Promise<void>;
}

const readinessTimeoutMs = 2000;

/** `/healthz`: the process is alive. `/readyz`: it can store webhooks now (Postgres answers). */
export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, { checkDatabase }) => {
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
        await Promise.race([
          checkDatabase(),
          new Promise((_resolve, reject) =>
            setTimeout(() => reject(new Error('timeout')), readinessTimeoutMs).unref(),
          ),
        ]);
        return { status: 'ready' };
      } catch {
        return reply.status(503).send({ status: 'unavailable', reason: 'database unreachable' });
      }
    },
  );
};
