import type Stripe from 'stripe';
import type { Faults } from './faults.js';

type Helper<T> = Promise<T & { lastResponse?: unknown }>;

/**
 * The emulator's HTTP test helpers through the real `stripe` package (its `rawRequest`), for
 * scripts and tests that talk to an emulator in another process: same key, same retries.
 */
export const emulatorTestHelpers = (stripe: Stripe) => {
  const post = <T>(path: string, params: Record<string, unknown> = {}) =>
    stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params) as unknown as Helper<T>;
  return {
    /** The customer pays on the session's page with a test card (`pm_card_visa` by default). */
    completeCheckoutSession: (
      id: string,
      payer: { payment_method?: string; email?: string; name?: string } = {},
    ) => post<Stripe.Checkout.Session>(`checkout/sessions/${id}/complete`, payer),
    /** Refunds a payment intent (or charge): what is left, or `amount`. */
    refund: (paymentId: string, amount?: number) =>
      post<Stripe.Refund>(`payments/${paymentId}/refund`, amount === undefined ? {} : { amount }),
    openDispute: (paymentId: string, reason = 'fraudulent') =>
      post<Stripe.Dispute>(`payments/${paymentId}/dispute`, { reason }),
    closeDispute: (disputeId: string, outcome: 'won' | 'lost') =>
      post<Stripe.Dispute>(`disputes/${disputeId}/close`, { outcome }),
    /** The card network warns that a payment (intent or charge) looks fraudulent. */
    openEarlyFraudWarning: (paymentId: string, fraudType = 'made_with_stolen_card') =>
      post<Stripe.Radar.EarlyFraudWarning>(`payments/${paymentId}/early_fraud_warning`, {
        fraud_type: fraudType,
      }),
    setFaults: (faults: Faults) => post<Faults>('emulator/faults', faults as Record<string, unknown>),
  };
};
