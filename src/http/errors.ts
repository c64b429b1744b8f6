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

/** Every error leaves as `{"error":{"code","message"}}`; a 5xx never shows its cause to the caller. */
export const replyWithError = (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply => {
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: { message: error.message, code: error.code } }, 'request failed');
    return reply.status(status).send(errorBody('internal', 'Internal error; the request can be retried'));
  }
  return reply.status(status).send(errorBody(codeOfStatus(status), error.message));
};
