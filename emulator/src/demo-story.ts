import type Stripe from 'stripe';
import { emulatorTestHelpers } from './client.js';

/** The metadata Payfold reads a subject from (`payfold_subject_type` / `payfold_subject_id`). */
const subjectMetadata = (type: string, id: string) => ({
  payfold_subject_type: type,
  payfold_subject_id: id,
});

/** What the demo's story created, for the tables and the tests to find. */
export interface DemoStory {
  subscriptionId: string;
  oneTimePaymentIntentId: string;
}

const day = 24 * 60 * 60;

export type DemoStep =
  | 'catalog created'
  | 'team subscribed through Checkout'
  | 'user paid once, after a declined card'
  | 'a month passed: subscription renewed'
  | 'team saved a new card for its renewals'
  | 'user refunded half'
  | 'team canceled at period end; the period ended';

/**
 * The demo's story, told to Stripe (or the emulator) through the `stripe` package: a product
 * with a monthly and a one-time price and two features its subscribers are entitled to; a team subscribes through Checkout (on a test clock, so
 * that time can pass); a user buys the one-time price through Checkout, the first card declined;
 * a month passes and the subscription renews; the team saves a new card without paying (a setup
 * intent) and its renewals charge it; the user gets part of their money back; the team cancels at
 * period end and the period ends.
 */
export const runDemoStory = async (
  stripe: Stripe,
  options: {
    /** Where the test clock starts (Unix seconds); now by default. */
    start?: number;
    /** Awaited after each step of the story, with what just happened. */
    afterStep?: (step: DemoStep) => Promise<void>;
  } = {},
): Promise<DemoStory> => {
  const afterStep = options.afterStep ?? (async () => undefined);
  const helpers = emulatorTestHelpers(stripe);
  const product = await stripe.products.create({ name: 'Team plan', description: 'Seats for a team' });
  const monthly = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    lookup_key: 'team_monthly',
  });
  const lifetime = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 9900,
    lookup_key: 'lifetime_pass',
  });
  await stripe.products.update(product.id, { default_price: monthly.id });
  // What a subscriber may use, for the app to read from payments.entitlements.
  for (const [lookupKey, name] of [
    ['team_workspace', 'Shared workspace'],
    ['priority_support', 'Priority support'],
  ] as const) {
    const feature = await stripe.entitlements.features.create({ lookup_key: lookupKey, name });
    await stripe.products.createFeature(product.id, { entitlement_feature: feature.id });
  }
  await afterStep('catalog created');

  const clock = await stripe.testHelpers.testClocks.create({
    frozen_time: options.start ?? Math.floor(Date.now() / 1000),
    name: 'payfold demo',
  });
  const team = await stripe.customers.create({
    email: 'billing@acme.test',
    name: 'Acme',
    test_clock: clock.id,
  });
  const teamSubject = subjectMetadata('team', 'acme');
  const teamCheckout = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: team.id,
    line_items: [{ price: monthly.id, quantity: 3 }],
    metadata: teamSubject,
    subscription_data: { metadata: teamSubject },
    success_url: 'https://app.example/billing?done=1',
    cancel_url: 'https://app.example/billing',
  });
  const subscribed = await helpers.completeCheckoutSession(teamCheckout.id, {
    payment_method: 'pm_card_visa',
  });

  await afterStep('team subscribed through Checkout');

  const userSubject = subjectMetadata('user', 'ada');
  const userCheckout = await stripe.checkout.sessions.create({
    mode: 'payment',
    customer_creation: 'always',
    customer_email: 'ada@example.test',
    line_items: [{ price: lifetime.id, quantity: 1 }],
    metadata: userSubject,
    payment_intent_data: { metadata: userSubject },
    success_url: 'https://app.example/pass?done=1',
  });
  await helpers.completeCheckoutSession(userCheckout.id, { payment_method: 'pm_card_chargeDeclined' });
  const bought = await helpers.completeCheckoutSession(userCheckout.id, { payment_method: 'pm_card_visa' });
  await afterStep('user paid once, after a declined card');

  const subscription = await stripe.subscriptions.retrieve(subscribed.subscription as string);
  const renewal = subscription.items.data[0]?.current_period_end as number;
  await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: renewal + day });
  await afterStep('a month passed: subscription renewed');

  const saved = await stripe.setupIntents.create({
    customer: team.id,
    payment_method: 'pm_card_mastercard',
    usage: 'off_session',
    confirm: true,
  });
  await stripe.subscriptions.update(subscription.id, {
    default_payment_method: saved.payment_method as string,
  });
  await afterStep('team saved a new card for its renewals');

  await stripe.refunds.create({
    payment_intent: bought.payment_intent as string,
    amount: 4900,
    reason: 'requested_by_customer',
  });
  await afterStep('user refunded half');

  const ending = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
  await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: (ending.cancel_at as number) + day });
  await afterStep('team canceled at period end; the period ended');
  return { subscriptionId: subscription.id, oneTimePaymentIntentId: bought.payment_intent as string };
};
