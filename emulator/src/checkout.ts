import type Stripe from 'stripe';
import { attemptInvoicePayment } from './invoices.js';
import { StripeApiError } from './params.js';
import { paymentMethodOf } from './payment-methods.js';
import { confirmPaymentIntent, createPaymentIntent, existing, onCustomerClock } from './payments.js';
import { checkoutSessionExtras, customerRecord } from './resources.js';
import { type Act, referencedId } from './store.js';
import { createSubscription, latestInvoice, subscriptionChanged } from './subscriptions.js';

export interface CheckoutPayer {
  /** A Stripe test payment method (`pm_card_visa`, `pm_card_chargeDeclined`…). */
  paymentMethod: string;
  email: string | null;
  name: string | null;
}

/**
 * A customer pays on a Checkout Session's page. Subscription mode: the customer is created
 * (`customer.created`) unless the session named one, then the subscription with its first
 * invoice and payment (see `createSubscription`), then `checkout.session.completed`. Payment mode:
 * a customer only when `customer_creation` is `always`, the payment intent's events, then
 * `checkout.session.completed`. A declined card leaves the session `open` after the failed
 * payment's events; paying again with another card completes it.
 */
export const completeCheckoutSession = (
  act: Act,
  session: Stripe.Checkout.Session,
  payer: CheckoutPayer,
): Stripe.Checkout.Session => {
  if (session.status !== 'open') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `This Checkout Session is ${session.status}; only open sessions can be completed.`,
      'checkout_session_not_open',
    );
  }
  const { store } = act;
  const extras = existing(store, checkoutSessionExtras, session.id, 'id');
  const named = typeof session.customer === 'string' ? store.get('customer', session.customer) : undefined;
  const email = session.customer_email ?? named?.email ?? payer.email ?? 'customer@example.com';
  let customerId = referencedId(session.customer);
  const wantsCustomer = session.mode === 'subscription' || session.customer_creation === 'always';
  if (!customerId && wantsCustomer) {
    // The customer Checkout creates is the one the customers API would.
    const customer = customerRecord({ email, ...(payer.name ? { name: payer.name } : {}) }, store);
    customerId = store.create('customer', customer, 'customer.created', act.context).id;
    store.update('checkout.session', session.id, { customer: customerId }, null, act.context);
  }
  const onClock = onCustomerClock(act, customerId);
  let paid: boolean;
  if (session.mode === 'subscription') {
    // Checkout saves the card to the customer for the subscription's renewals.
    const card = paymentMethodOf(onClock, payer.paymentMethod, 'payment_method', customerId).id;
    // A session declined before already has its incomplete subscription: its invoice is paid now.
    const declinedBefore =
      typeof session.subscription === 'string' ? store.get('subscription', session.subscription) : undefined;
    if (declinedBefore) {
      const invoice = latestInvoice(store, declinedBefore);
      paid = invoice ? attemptInvoicePayment(onClock, invoice, card, null) : false;
      if (paid) {
        subscriptionChanged(onClock, declinedBefore, {
          status: 'active',
          default_payment_method: card,
        });
      }
    } else {
      const subscription = createSubscription(onClock, {
        customer: customerId as string,
        items: extras.line_items.map((item) => ({
          price: item.price?.id ?? '',
          quantity: item.quantity ?? 1,
        })),
        metadata: extras.subscription_metadata,
        defaultPaymentMethod: card,
        trialEnd: null,
        paymentBehavior: 'allow_incomplete',
        discounts: (session.discounts ?? []).map((discount) => ({
          coupon: discount.promotion_code ? null : referencedId(discount.coupon),
          promotionCode: referencedId(discount.promotion_code),
        })),
      });
      paid = subscription.status === 'active';
      store.update('checkout.session', session.id, { subscription: subscription.id }, null, act.context);
    }
  } else {
    let intent =
      typeof session.payment_intent === 'string'
        ? store.get('payment_intent', session.payment_intent)
        : undefined;
    intent ??= createPaymentIntent(onClock, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? 'usd',
      customer: customerId,
      description: null,
      metadata: extras.payment_intent_metadata,
      paymentMethod: null,
    });
    store.update('checkout.session', session.id, { payment_intent: intent.id }, null, act.context);
    paid = confirmPaymentIntent(onClock, intent, payer.paymentMethod).succeeded;
  }
  if (!paid) return existing(store, 'checkout.session', session.id, 'id');
  return store.update(
    'checkout.session',
    session.id,
    {
      customer: customerId,
      customer_details: {
        address: null,
        email,
        business_name: null,
        individual_name: null,
        name: payer.name,
        phone: null,
        tax_exempt: 'none',
        tax_ids: [],
      },
      payment_status: 'paid',
      status: 'complete',
      url: null,
    },
    'checkout.session.completed',
    act.context,
  );
};
