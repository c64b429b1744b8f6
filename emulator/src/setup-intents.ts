import type Stripe from 'stripe';
import { bool, invalid, mergeMetadata, type Params, text } from './params.js';
import { attachPaymentMethod, cardOutcome, paymentMethodOf, testCardOf } from './payment-methods.js';
import { existing, methodToConfirm, onClockOf, onCustomerClock, refuseDoneIntent } from './payments.js';
import { type Resource, resource } from './resources.js';
import { type Act, referencedId } from './store.js';

const usages = new Set(['off_session', 'on_session']);

/**
 * A card set up for later payments: confirmed with a card, it succeeds (`setup_intent.succeeded`,
 * the card attached to the customer, `payment_method.attached`) or fails
 * (`setup_intent.setup_failed`, back to `requires_payment_method` with `last_setup_error`).
 */
const confirmSetup = (act: Act, intent: Stripe.SetupIntent, given: string | null): Stripe.SetupIntent => {
  refuseDoneIntent('SetupIntent', intent.status, 'confirm');
  const method = methodToConfirm('SetupIntent', given, referencedId(intent.payment_method));
  const card = paymentMethodOf(act, method, 'payment_method');
  const outcome = cardOutcome(testCardOf(act.store, card.id));
  if (!outcome.succeeds) {
    return act.store.update(
      'setup_intent',
      intent.id,
      {
        status: 'requires_payment_method',
        payment_method: null,
        last_setup_error: {
          code: 'card_declined',
          decline_code: outcome.declineCode ?? 'generic_decline',
          doc_url: 'https://stripe.com/docs/error-codes/card-declined',
          message: 'Your card was declined.',
          payment_method: structuredClone(card),
          type: 'card_error',
        },
      },
      'setup_intent.setup_failed',
      act.context,
    );
  }
  const customer = referencedId(intent.customer);
  if (customer) attachPaymentMethod(act, card, customer);
  return act.store.update(
    'setup_intent',
    intent.id,
    { status: 'succeeded', payment_method: card.id, last_setup_error: null },
    'setup_intent.succeeded',
    act.context,
  );
};

export const setupIntents: Resource = resource({
  type: 'setup_intent',
  path: 'setup_intents',
  create: (params, act) => {
    const customer = text(params, 'customer');
    if (customer) existing(act.store, 'customer', customer, 'customer');
    const usage = text(params, 'usage') ?? 'off_session';
    if (!usages.has(usage)) throw invalid('usage', `Invalid usage: ${usage}`);
    const onClock = onCustomerClock(act, customer);
    const given = text(params, 'payment_method');
    const id = act.store.id('seti');
    const intent = act.store.create(
      'setup_intent',
      {
        id,
        object: 'setup_intent',
        allowed_payment_method_types: null,
        application: null,
        automatic_payment_methods: null,
        cancellation_reason: null,
        client_secret: `${id}_secret_${act.store.id('').slice(1)}`,
        created: onClock.context.at ?? act.store.now(),
        customer,
        customer_account: null,
        description: text(params, 'description'),
        excluded_payment_method_types: null,
        flow_directions: null,
        last_setup_error: null,
        latest_attempt: null,
        livemode: false,
        mandate: null,
        metadata: mergeMetadata({}, params.metadata),
        next_action: null,
        on_behalf_of: null,
        payment_method: given ? paymentMethodOf(onClock, given, 'payment_method').id : null,
        payment_method_configuration_details: null,
        payment_method_options: {
          card: { mandate_options: null, network: null, request_three_d_secure: 'automatic' },
        },
        payment_method_types: ['card'],
        single_use_mandate: null,
        status: given ? 'requires_confirmation' : 'requires_payment_method',
        usage: usage as Stripe.SetupIntent['usage'],
      },
      'setup_intent.created',
      onClock.context,
    );
    return bool(params, 'confirm') ? confirmSetup(onClock, intent, null) : intent;
  },
  update: (intent, params: Params, act) =>
    act.store.update(
      'setup_intent',
      intent.id,
      'metadata' in params ? { metadata: mergeMetadata(intent.metadata, params.metadata) } : {},
      null,
      onClockOf(act, intent).context,
    ),
  actions: {
    confirm: (intent, params, act) =>
      confirmSetup(onClockOf(act, intent), intent, text(params, 'payment_method')),
    cancel: (intent, _params, act) => {
      refuseDoneIntent('SetupIntent', intent.status, 'cancel');
      return act.store.update(
        'setup_intent',
        intent.id,
        { status: 'canceled', cancellation_reason: 'requested_by_customer' },
        'setup_intent.canceled',
        onClockOf(act, intent).context,
      );
    },
  },
  matches: (intent, params) =>
    !text(params, 'customer') || referencedId(intent.customer) === text(params, 'customer'),
});
