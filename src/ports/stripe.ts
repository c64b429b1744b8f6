import type Stripe from 'stripe';
import type { Environment } from '../domain/environment.js';

/** What a call is handed: the client for the key, and the options every request must carry. */
export interface StripeCall {
  stripe: Stripe;
  /** Pass to every POST: one idempotency key for the call, the same on each retry. */
  requestOptions: Stripe.RequestOptions;
}

/** A Stripe refusal or failure, as one line a user can act on (never the key). */
export class StripeGatewayError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
    readonly type: string | undefined,
  ) {
    super(message);
  }
}

/** What the `stripe` package attaches to each answer: the response it came in. */
export type WithResponse = { lastResponse?: { headers: Record<string, string> } };

/**
 * An answer as an API observation: the object without the response the package attached, and
 * Stripe's clock when it answered (the `Date` header, Unix seconds; undefined if missing).
 */
export const observationOf = <T extends object>(
  answer: T & WithResponse,
): { object: T; observedAt: number | undefined } => {
  const { lastResponse, ...object } = answer;
  const time = Date.parse(lastResponse?.headers.date ?? '');
  return { object: object as T, observedAt: Number.isNaN(time) ? undefined : Math.floor(time / 1000) };
};

/**
 * The one way to Stripe (README "Connecting a Stripe account"): the key, the rate limit, retries
 * and idempotency keys are its business, never the caller's.
 */
export interface StripeGateway {
  /**
   * Runs one call (it may make one request, or page through several) with the environment's key.
   * The whole call is retried from the start, so `run` must be safe to repeat: reads, and POSTs
   * that pass `requestOptions` (Stripe answers a repeated idempotency key with the first answer).
   * A read of several requests makes each a call of its own (`stripeRead` in
   * src/app/stripe-read.ts), so that a refusal repeats that request alone.
   * `idempotencyKey` names the change for longer than this call (a session request's, say).
   */
  call<T>(
    environment: Environment,
    secretKey: string,
    run: (call: StripeCall) => Promise<T>,
    idempotencyKey?: string,
  ): Promise<T>;
}

export type SignatureCheck =
  | { ok: true; event: unknown }
  | { ok: false; reason: 'bad_signature' | 'not_json' };

/** Checks a webhook body's `Stripe-Signature` against each of an environment's signing secrets. */
export type VerifyStripeSignature = (
  body: string,
  header: string,
  secrets: readonly string[],
) => SignatureCheck;
