import Stripe from 'stripe';

/** Stripe's own default; older signatures are replays. */
export const signatureToleranceSeconds = 300;

export type SignatureCheck =
  | { ok: true; event: unknown }
  | { ok: false; reason: 'bad_signature' | 'not_json' };

/**
 * Verifies a webhook body with the `stripe` package against each secret in turn (an endpoint has
 * two while its secret rotates). The body is parsed only once a signature matches. It is given as
 * the UTF-8 text of the raw bytes: Stripe sends UTF-8 JSON, whose text re-encodes to the same
 * bytes, and any other body fails the signature check, as it should.
 */
export const verifyStripeSignature = (
  body: string,
  header: string,
  secrets: readonly string[],
): SignatureCheck => {
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
