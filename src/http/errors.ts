import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

export interface ErrorBody {
  error: { code: string; message: string };
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/** A request that fails its schema: 400 with the first issue, naming the field (never its value). */
export const invalid = (error: z.ZodError): ErrorBody => {
  const issue = error.issues[0];
  return errorBody('invalid_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
};

const codeOfStatus = (status: number): string =>
  status === 413
    ? 'payload_too_large'
    : status === 404
      ? 'not_found'
      : status < 500
        ? 'bad_request'
        : 'internal';

/**
 * Whether the same request may succeed later: Postgres unreachable, restarting, out of resources or
 * losing a deadlock, or a connection that broke. Anything else would fail the same way again.
 */
const isTransient = (error: FastifyError): boolean => {
  const code = String(error.code ?? '');
  return (
    /^(08|53|57P)/.test(code) ||
    code === '40001' ||
    code === '40P01' ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code)
  );
};

/**
 * Every error leaves as `{"error":{"code","message"}}`; a 5xx never shows its cause to the caller,
 * and says it can be retried only when it can (503), never for a failure that would repeat.
 */
export const replyWithError = (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply => {
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: { message: error.message, code: error.code } }, 'request failed');
    return isTransient(error)
      ? reply
          .status(503)
          .send(
            errorBody('unavailable', 'The database is unavailable for a moment; the request can be retried'),
          )
      : reply
          .status(status)
          .send(
            errorBody('internal', 'Internal error: retrying will not help; the server log has the cause'),
          );
  }
  return reply.status(status).send(errorBody(codeOfStatus(status), error.message));
};
