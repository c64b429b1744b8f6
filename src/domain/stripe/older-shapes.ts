/**
 * Fields the rows need that older API versions did not send, derived from what they did send
 * (README "Payloads of older API versions"). Each derivation applies only when the field is
 * absent, so a payload that carries it is never second-guessed.
 */

/**
 * A Checkout Session's `status` (added in 2020-08-27's successors): an event about a completed or
 * expired session says which. `async_payment_failed` is about a completed session whose delayed
 * payment then failed; its `payment_status` says so.
 */
const checkoutSessionStatusOfEvent: Record<string, string> = {
  'checkout.session.completed': 'complete',
  'checkout.session.async_payment_succeeded': 'complete',
  'checkout.session.async_payment_failed': 'complete',
  'checkout.session.expired': 'expired',
};

/** The snapshot with the fields its event type implies where the payload left them out. */
export const withDerivedFields = <T extends Record<string, unknown>>(
  objectType: string,
  eventType: string,
  snapshot: T,
): T => {
  if (objectType === 'checkout.session' && snapshot.status == null) {
    const status = checkoutSessionStatusOfEvent[eventType];
    if (status) return { ...snapshot, status };
  }
  return snapshot;
};
