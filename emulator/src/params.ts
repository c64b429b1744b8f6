import type { FastifyReply } from 'fastify';

/** A Stripe API error, answered as Stripe answers it: `{error: {type, code, message, param}}`. */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'idempotency_error' | 'api_error' | 'card_error',
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

export type Params = Record<string, unknown>;

export const missing = (param: string) =>
  new StripeApiError(
    400,
    'invalid_request_error',
    `Missing required param: ${param}.`,
    'parameter_missing',
    param,
  );

export const invalid = (param: string, message: string) =>
  new StripeApiError(400, 'invalid_request_error', message, 'parameter_invalid', param);

export const resourceMissing = (type: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${type}: '${id}'`, 'resource_missing', param);

export const text = (params: Params, name: string): string | null => {
  const value = params[name];
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw invalid(name, `Invalid string: ${name}`);
  return value;
};

export const required = (params: Params, name: string): string => {
  const value = text(params, name);
  if (value === null) throw missing(name);
  return value;
};

export const integer = (params: Params, name: string): number | null => {
  const value = text(params, name);
  if (value === null) return null;
  if (!/^-?\d+$/.test(value)) throw invalid(name, `Invalid integer: ${value}`);
  return Number(value);
};

export const bool = (params: Params, name: string): boolean | null => {
  const value = text(params, name);
  if (value === null) return null;
  if (value !== 'true' && value !== 'false') throw invalid(name, `Invalid boolean: ${value}`);
  return value === 'true';
};

/** Metadata merges into what is there; an empty value removes a key (Stripe's rule). */
export const mergeMetadata = (current: unknown, given: unknown): Record<string, string> => {
  const merged: Record<string, string> = { ...((current as Record<string, string>) ?? {}) };
  if (given === '') return {};
  if (given && typeof given === 'object') {
    for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
      if (value === '') delete merged[key];
      else merged[key] = String(value);
    }
  }
  return merged;
};

/** Only the fields a request names change; every other field keeps its value. */
export const named = <F extends Record<string, unknown>>(params: Params, fields: F): Partial<F> =>
  Object.fromEntries(
    Object.entries(fields).filter(([field, value]) => field in params && value !== undefined),
  ) as Partial<F>;

/** `customer=cus_…`-style list filters: each named parameter must equal the record's field. */
export const fieldFilter =
  (...fields: string[]) =>
  (record: object, params: Params): boolean =>
    fields.every((field) => {
      const wanted = params[field];
      if (wanted === undefined || wanted === '') return true;
      const value: unknown = Reflect.get(record, field);
      const id = value && typeof value === 'object' ? (value as { id?: unknown }).id : value;
      return String(id) === String(wanted);
    });

/** The body Stripe answers an error with; one with a code links to that code's page, as Stripe's do. */
export const stripeErrorBody = (error: StripeApiError) => ({
  error: {
    type: error.type,
    message: error.message,
    ...(error.code
      ? {
          code: error.code,
          doc_url: `https://stripe.com/docs/error-codes/${error.code.replaceAll('_', '-')}`,
        }
      : {}),
    ...(error.param ? { param: error.param } : {}),
  },
});

export const replyWithStripeError = (reply: FastifyReply, error: StripeApiError) =>
  reply.status(error.status).send(stripeErrorBody(error));
