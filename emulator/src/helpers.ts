import type Stripe from 'stripe';
import { type CheckoutPayer, completeCheckoutSession } from './checkout.js';
import { openEarlyFraudWarning } from './early-fraud-warnings.js';
import { invalid, type Params, text } from './params.js';
import { closeDispute, disputedCharge, existing, onClockOf, openDispute, refundCharge } from './payments.js';
import { type EmulatorStore, type RequestContext, testClockType } from './store.js';
import { advanceTestClock } from './test-clocks.js';

/**
 * What customers, banks and time do, on demand: the emulator's test helpers. The same functions
 * back `startEmulator().helpers` and the HTTP routes under `/v1/test_helpers/`.
 */
export interface TestHelpers {
  /** The customer pays on the session's page; a declined card leaves it open. */
  completeCheckoutSession(sessionId: string, payer?: Partial<CheckoutPayer>): Stripe.Checkout.Session;
  advanceTestClock(clockId: string, frozenTime: number): Stripe.TestHelpers.TestClock;
  /** Refunds a payment intent's charge, or a charge: all that is left, or `amount`. */
  refund(paymentId: string, amount?: number): Stripe.Refund;
  /** The cardholder disputes a payment intent's charge, or a charge. */
  openDispute(paymentId: string, reason?: string): Stripe.Dispute;
  /** The bank decides a dispute. */
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): Stripe.Dispute;
  /** The card network warns that a payment looks fraudulent, before any dispute. */
  openEarlyFraudWarning(
    paymentId: string,
    fraudType?: Stripe.Radar.EarlyFraudWarning['fraud_type'],
  ): Stripe.Radar.EarlyFraudWarning;
}

/** The charge a payment stands on: the charge itself, or a payment intent's latest charge. */
const chargeOf = (store: EmulatorStore, paymentId: string): Stripe.Charge => {
  if (!paymentId.startsWith('pi_')) return existing(store, 'charge', paymentId, 'id');
  const intent = existing(store, 'payment_intent', paymentId, 'id');
  if (typeof intent.latest_charge !== 'string') {
    throw invalid('payment_intent', `PaymentIntent ${paymentId} has no charge yet.`);
  }
  return existing(store, 'charge', intent.latest_charge, 'id');
};

export const testHelpers = (
  store: EmulatorStore,
  context: RequestContext = { requestId: null, idempotencyKey: null },
): TestHelpers => {
  const act = { store, context };
  return {
    completeCheckoutSession: (sessionId, payer = {}) => {
      const session = existing(store, 'checkout.session', sessionId, 'id');
      return completeCheckoutSession(onClockOf(act, session), session, {
        paymentMethod: payer.paymentMethod ?? 'pm_card_visa',
        email: payer.email ?? null,
        name: payer.name ?? null,
      });
    },
    advanceTestClock: (clockId, frozenTime) =>
      advanceTestClock(store, existing(store, testClockType, clockId, 'id'), frozenTime, context),
    refund: (paymentId, amount) => {
      const charge = chargeOf(store, paymentId);
      return refundCharge(onClockOf(act, charge), charge, {
        amount: amount ?? null,
        reason: 'requested_by_customer',
        metadata: {},
      });
    },
    openDispute: (paymentId, reason = 'fraudulent') => {
      const charge = chargeOf(store, paymentId);
      return openDispute(onClockOf(act, charge), charge, reason);
    },
    closeDispute: (disputeId, outcome) => {
      const dispute = existing(store, 'dispute', disputeId, 'id');
      return closeDispute(onClockOf(act, disputedCharge(store, dispute)), dispute, outcome);
    },
    openEarlyFraudWarning: (paymentId, fraudType = 'made_with_stolen_card') => {
      const charge = chargeOf(store, paymentId);
      return openEarlyFraudWarning(onClockOf(act, charge), charge, fraudType);
    },
  };
};

const outcomes = new Set(['won', 'lost']);
const fraudTypes = new Set([
  'card_never_received',
  'fraudulent_card_application',
  'made_with_counterfeit_card',
  'made_with_lost_card',
  'made_with_stolen_card',
  'misc',
  'unauthorized_use_of_card',
]);

/** The HTTP test helpers: `POST /v1/test_helpers/<path>` with the object id in `:id`. */
export const testHelperRoutes: Record<string, (helpers: TestHelpers, id: string, params: Params) => object> =
  {
    'checkout/sessions/:id/complete': (helpers, id, params) =>
      helpers.completeCheckoutSession(id, {
        paymentMethod: text(params, 'payment_method') ?? 'pm_card_visa',
        email: text(params, 'email'),
        name: text(params, 'name'),
      }),
    'payments/:id/refund': (helpers, id, params) => {
      const amount = text(params, 'amount');
      if (amount !== null && !/^\d+$/.test(amount)) throw invalid('amount', `Invalid integer: ${amount}`);
      return helpers.refund(id, amount === null ? undefined : Number(amount));
    },
    'payments/:id/dispute': (helpers, id, params) =>
      helpers.openDispute(id, text(params, 'reason') ?? 'fraudulent'),
    'payments/:id/early_fraud_warning': (helpers, id, params) => {
      const fraudType = text(params, 'fraud_type') ?? 'made_with_stolen_card';
      if (!fraudTypes.has(fraudType)) throw invalid('fraud_type', `Invalid fraud_type: ${fraudType}`);
      return helpers.openEarlyFraudWarning(id, fraudType as Stripe.Radar.EarlyFraudWarning['fraud_type']);
    },
    'disputes/:id/close': (helpers, id, params) => {
      const outcome = text(params, 'outcome') ?? 'lost';
      if (!outcomes.has(outcome)) throw invalid('outcome', 'outcome must be won or lost.');
      return helpers.closeDispute(id, outcome as 'won' | 'lost');
    },
  };
