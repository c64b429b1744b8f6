import type { FastifyPluginAsync } from 'fastify';

export interface MetricsPluginOptions {
  /** The metrics in the Prometheus text format, with its content type. */
  metricsText: () => Promise<{ contentType: string; body: string }>;
}

/** `GET /metrics` in the Prometheus text format. */
export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, { metricsText }) => {
  app.get(
    '/metrics',
    {
      config: {
        doc: {
          summary: 'Prometheus metrics',
          auth: 'none',
          responses: { 200: 'The Prometheus text format' },
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await metricsText();
      reply.header('content-type', contentType);
      return body;
    },
  );
};
