import { z } from 'zod';
import type { Environment } from '../domain/environment.js';
import type { SessionFailure } from '../domain/session-requests.js';
import type { StripeGatewayError } from '../ports/stripe.js';
import { notConnectedMessage } from './stripe-connections/index.js';

/** What the session API answers: the body for a status, or an error a caller can act on. */
export type SessionResult<T> =
  | { ok: true; status: 201; body: T }
  | { ok: false; status: 400 | 401 | 403 | 404 | 409 | 502 | 503; code: string; message: string };

/** A URL the customer is sent to. */
export const httpUrlSchema = z
  .string()
  .max(2048)
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  );

/** The environment has no Stripe key: an operator's fix, not the caller's. */
export const notConnected = (environment: Environment): SessionResult<never> => ({
  ok: false,
  status: 503,
  code: 'stripe_not_connected',
  message: notConnectedMessage(environment),
});

/** The caller's row-level security policies refused the request's row. */
export const deniedByPolicies = (what: string): SessionResult<never> => ({
  ok: false,
  status: 403,
  code: 'forbidden',
  message: `No row-level security policy lets this caller ${what}`,
});

/** The app-owned billing owner, as the session API takes it. */
export const sessionSubjectSchema = z
  .object({
    type: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . and - only'),
    id: z.string().min(1).max(255),
  })
  .strict();

const reservedPrefix = 'payfold_';

/** Stripe's limits (50 keys, 40-character keys, 500-character values), less the keys Payfold adds. */
export const userMetadataSchema = z
  .record(z.string().min(1).max(40), z.string().max(500))
  .refine((metadata) => Object.keys(metadata).length <= 45, 'at most 45 keys')
  .refine(
    (metadata) => Object.keys(metadata).every((key) => !key.startsWith(reservedPrefix)),
    `keys starting with ${reservedPrefix} are Payfold's`,
  );

/**
 * A refusal by Stripe as the log records it and as the caller hears it: what Stripe found wrong
 * with the request is 400, Stripe unreachable or failing is 502. Either can be retried.
 */
export const sessionFailure = (
  error: StripeGatewayError,
): { recorded: SessionFailure; result: SessionResult<never> } => {
  const refused =
    error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429;
  return {
    recorded: { failedAt: Date.now(), message: error.message, stripeStatus: error.status ?? null },
    result: refused
      ? { ok: false, status: 400, code: 'stripe_refused', message: error.message }
      : { ok: false, status: 502, code: 'stripe_unavailable', message: error.message },
  };
};

/** Calls for the same key while one is running share its answer (one Stripe call, not twenty). */
export const singleFlight = <T>() => {
  const running = new Map<string, Promise<T>>();
  return (key: string, run: () => Promise<T>): Promise<T> => {
    const known = running.get(key);
    if (known) return known;
    const started = run().finally(() => running.delete(key));
    running.set(key, started);
    return started;
  };
};
