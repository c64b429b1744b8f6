import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Params, StripeApiError, stripeErrorBody } from './params.js';
import { paramsFingerprint, type RequestContext } from './store.js';

interface IdempotentResponse {
  fingerprint: string;
  status: number;
  body: unknown;
  /** The request that ran: a replay names it in `Original-Request`, as Stripe's do. */
  requestId: string;
}

export type MutationHandler = (params: Params, context: RequestContext, request: FastifyRequest) => unknown;

/**
 * Route handlers for calls that change the account. Each runs once per `Idempotency-Key` (echoed
 * in the answer): a retry with the same parameters gets the first answer back
 * (`Idempotent-Replayed: true`, `Original-Request: req_…`), one with other parameters an
 * `idempotency_error`. `changed` is called after every change.
 */
export const idempotentMutations = (paramsOf: (request: FastifyRequest) => Params, changed: () => void) => {
  const answers = new Map<string, IdempotentResponse>();
  return (handler: MutationHandler) => async (request: FastifyRequest, reply: FastifyReply) => {
    const params = paramsOf(request);
    const key = request.headers['idempotency-key'];
    const idempotencyKey = typeof key === 'string' ? key : null;
    const fingerprint = paramsFingerprint(request.method, request.url, params);
    const requestId = String(reply.getHeader('request-id'));
    if (idempotencyKey) {
      reply.header('idempotency-key', idempotencyKey);
      const earlier = answers.get(idempotencyKey);
      if (earlier) {
        if (earlier.fingerprint !== fingerprint) {
          throw new StripeApiError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        }
        reply.header('idempotent-replayed', 'true');
        reply.header('original-request', earlier.requestId);
        return reply.status(earlier.status).send(earlier.body);
      }
    }
    const context = { requestId, idempotencyKey };
    let body: unknown;
    try {
      body = handler(params, context, request);
    } catch (error) {
      // A declined card is an answer given after the request ran: a retry gets it again, as
      // with Stripe, instead of charging the card a second time.
      if (error instanceof StripeApiError && error.type === 'card_error') {
        changed();
        if (idempotencyKey) {
          answers.set(idempotencyKey, {
            fingerprint,
            status: error.status,
            body: stripeErrorBody(error),
            requestId,
          });
        }
      }
      throw error;
    }
    changed();
    if (idempotencyKey) answers.set(idempotencyKey, { fingerprint, status: 200, body, requestId });
    return reply.status(200).send(body);
  };
};

export type Mutation = ReturnType<typeof idempotentMutations>;
