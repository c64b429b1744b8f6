import type Stripe from 'stripe';
import { resourceMissing } from './params.js';
import { type Act, type EmulatorStore, referencedId } from './store.js';

export interface CardOutcome {
  succeeds: boolean;
  declineCode: string | null;
  /** Cards whose payments succeed and are then disputed by the cardholder. */
  disputes: boolean;
  brand: string;
  last4: string;
}

/**
 * Stripe's test payment methods: `pm_card_visa` and the like succeed; `pm_card_chargeDeclined…`
 * are declined; `pm_card_createDispute` succeeds and is disputed as fraudulent.
 */
export const cardOutcome = (testCard: string): CardOutcome => {
  const brand = /mastercard/i.test(testCard) ? 'mastercard' : 'visa';
  const last4 = brand === 'mastercard' ? '4444' : '4242';
  if (/chargeDeclinedInsufficientFunds/i.test(testCard)) {
    return { succeeds: false, declineCode: 'insufficient_funds', disputes: false, brand, last4: '9995' };
  }
  if (/chargeDeclined/i.test(testCard)) {
    return { succeeds: false, declineCode: 'generic_decline', disputes: false, brand, last4: '0002' };
  }
  if (/createDispute/i.test(testCard)) {
    return { succeeds: true, declineCode: null, disputes: true, brand, last4: '0259' };
  }
  return { succeeds: true, declineCode: null, disputes: false, brand, last4 };
};

/** Billing details nobody gave: every field null, as Stripe shows them. */
export const noBillingDetails = (): Stripe.PaymentMethod.BillingDetails => ({
  address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
  email: null,
  name: null,
  phone: null,
  tax_id: null,
});

/** Stripe's test payment methods, usable wherever a payment method id is (`pm_card_visa`). */
const isTestCard = (id: string): boolean => /^pm_card_\w+$/.test(id);

/** The test card a payment method was made from, which decides what its payments do. */
export const testCardOf = (store: EmulatorStore, paymentMethodId: string): string =>
  store.get('payment_method.extras', paymentMethodId)?.test_card ?? paymentMethodId;

/** A card payment method made from a test card, as Stripe makes one when `pm_card_visa` is used. */
const paymentMethodFromTestCard = (act: Act, testCard: string): Stripe.PaymentMethod => {
  const { store } = act;
  const card = cardOutcome(testCard);
  const id = store.id('pm');
  const created = act.context.at ?? store.now();
  store.put('payment_method.extras', { id, object: 'payment_method.extras', created, test_card: testCard });
  return store.put('payment_method', {
    id,
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: noBillingDetails(),
    card: {
      brand: card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
      country: 'US',
      display_brand: card.brand,
      exp_month: 12,
      exp_year: 2034,
      fingerprint: `emulator${card.last4}`,
      funding: 'credit',
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created,
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: 'card',
  });
};

/** Attaches a payment method to a customer (`payment_method.attached`); one attached already stays. */
export const attachPaymentMethod = (
  act: Act,
  paymentMethod: Stripe.PaymentMethod,
  customerId: string,
): Stripe.PaymentMethod => {
  if (referencedId(paymentMethod.customer) === customerId) return paymentMethod;
  return act.store.update(
    'payment_method',
    paymentMethod.id,
    { customer: customerId },
    'payment_method.attached',
    act.context,
  );
};

/**
 * The payment method a request names: a stored one, or a new one made from a Stripe test card
 * (`pm_card_visa`), as Stripe makes one each time a test card is used. With `attachTo`, it is
 * attached to that customer: Checkout saving a card, a customer created with one, or a default
 * payment method set from a test card (which Stripe would want attached first).
 */
export const paymentMethodOf = (
  act: Act,
  given: string,
  param: string,
  attachTo: string | null = null,
): Stripe.PaymentMethod => {
  const stored = act.store.get('payment_method', given);
  const paymentMethod = stored ?? (isTestCard(given) ? paymentMethodFromTestCard(act, given) : undefined);
  if (!paymentMethod) throw resourceMissing('payment_method', given, param);
  return attachTo ? attachPaymentMethod(act, paymentMethod, attachTo) : paymentMethod;
};
