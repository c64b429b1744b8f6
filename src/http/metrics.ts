import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

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
          responses: {
            200: { description: 'The metrics', schema: z.string(), contentType: 'text/plain; version=0.0.4' },
          },
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
