import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiFault } from './faults.js';
import { replyWithStripeError, StripeApiError } from './params.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An `onRequest` hook that answers the calls the current faults pick as Stripe does on a bad day:
 * 429 with `Retry-After`, a 5xx, or a slow answer. A faulted call changes nothing, so the
 * `stripe` package's retries are safe. Each hit is listed in `injected`.
 */
export const apiFaultsHook =
  (pick: (call: string) => ApiFault[], injected: Array<{ call: string; kind: string }>) =>
  async (request: FastifyRequest, reply: FastifyReply) => {
    const call = `${request.method} ${request.url}`;
    for (const fault of pick(call)) {
      injected.push({ call, kind: fault.kind });
      if (fault.kind === 'slow') {
        await sleep(fault.delayMs);
        continue;
      }
      reply.header('stripe-should-retry', 'true');
      if (fault.kind === 'rate_limit') {
        reply.header('retry-after', String(fault.retryAfterSeconds));
        return replyWithStripeError(
          reply,
          new StripeApiError(
            429,
            'invalid_request_error',
            'Too many requests hit the API too quickly (an emulator fault).',
            'rate_limit',
          ),
        );
      }
      return replyWithStripeError(
        reply,
        new StripeApiError(fault.status, 'api_error', 'Stripe had an internal error (an emulator fault).'),
      );
    }
  };
