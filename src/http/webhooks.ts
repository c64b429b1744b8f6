import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type {
  StripeWebhookOutcome,
  StripeWebhookRequest,
  WebhookRejection,
} from '../app/ingest-stripe-webhook.js';
import { environmentSchema } from '../domain/environment.js';
import { stripeEventEnvelopeSchema } from '../domain/stripe-event.js';
import { errorBody, replyWithError } from './errors.js';

export const webhookBodyLimitBytes = 1024 * 1024;

export interface StripeWebhooksPluginOptions {
  ingest: (request: StripeWebhookRequest) => Promise<StripeWebhookOutcome>;
  /** Counts a request refused before it reached `ingest` (too large) or failed inside it. */
  rejected: (reason: WebhookRejection) => void;
}

/**
 * `POST /api/webhooks/stripe/:environment`. Stripe signs the exact bytes it sends, so this plugin
 * replaces every body parser in its scope with one that keeps the raw bytes, whatever the content
 * type claims.
 */
export const stripeWebhooksPlugin: FastifyPluginAsync<StripeWebhooksPluginOptions> = async (
  app,
  { ingest, rejected },
) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: webhookBodyLimitBytes },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode === 413) rejected('body_too_large');
    else if ((error.statusCode ?? 500) >= 500) rejected('append_failed');
    return replyWithError(error, request, reply);
  });

  app.post<{ Params: { environment: string } }>(
    '/api/webhooks/stripe/:environment',
    {
      bodyLimit: webhookBodyLimitBytes,
      config: {
        doc: {
          summary: 'A Stripe webhook: verified against the raw bytes, appended, then answered',
          auth: 'stripe_signature',
          params: z.object({ environment: environmentSchema }),
          body: stripeEventEnvelopeSchema,
          responses: {
            200: {
              description: 'Committed to the log; duplicate: the log held this event already',
              schema: z.strictObject({ received: z.literal(true), duplicate: z.boolean() }),
            },
            400: 'Missing or bad signature, not JSON, or livemode mismatch',
            404: 'Unknown environment',
            413: 'Body over 1 MiB',
            503: 'No signing secret configured for the environment',
          },
        },
      },
    },
    async (request, reply) => {
      const signature = request.headers['stripe-signature'];
      const outcome = await ingest({
        environment: request.params.environment,
        rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        signatureHeader: Array.isArray(signature) ? signature[0] : signature,
      });
      if (outcome.kind === 'rejected') {
        return reply.status(outcome.status).send(errorBody(outcome.reason, outcome.message));
      }
      return reply.status(200).send({ received: true, duplicate: outcome.duplicate });
    },
  );
};
