import Stripe from 'stripe';
import type { VerifyStripeSignature } from '../../ports/stripe.js';

/** Stripe's own default; older signatures are replays. */
export const signatureToleranceSeconds = 300;

/**
 * Verifies a webhook body with the `stripe` package against each secret in turn (an endpoint has
 * two while its secret rotates). The body is parsed only once a signature matches. It is given as
 * the UTF-8 text of the raw bytes: Stripe sends UTF-8 JSON, whose text re-encodes to the same
 * bytes, and any other body fails the signature check, as it should.
 */
export const verifyStripeSignature: VerifyStripeSignature = (body, header, secrets) => {
  for (const secret of secrets) {
    try {
      return {
        ok: true,
        event: Stripe.webhooks.constructEvent(body, header, secret, signatureToleranceSeconds),
      };
    } catch (error) {
      if (error instanceof SyntaxError) return { ok: false, reason: 'not_json' };
    }
  }
  return { ok: false, reason: 'bad_signature' };
};
