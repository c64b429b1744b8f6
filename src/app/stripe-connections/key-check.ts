import type Stripe from 'stripe';
import type { Environment } from '../../domain/environment.js';
import { type StripeGateway, StripeGatewayError } from '../../ports/stripe.js';
import { stripeRead } from '../stripe-read.js';
import { type ConnectionRefusal, stripeSecretKeySchema } from './status.js';

/**
 * What Payfold reads from Stripe (sync, reconcile): a restricted key must be able to list each, or
 * it is refused with the first it cannot read.
 */
const readsNeeded: ReadonlyArray<[string, (stripe: Stripe) => Promise<unknown>]> = [
  ['products', (stripe) => stripe.products.list({ limit: 1 })],
  ['prices', (stripe) => stripe.prices.list({ limit: 1 })],
  ['customers', (stripe) => stripe.customers.list({ limit: 1 })],
  ['subscriptions', (stripe) => stripe.subscriptions.list({ limit: 1 })],
  ['invoices', (stripe) => stripe.invoices.list({ limit: 1 })],
  ['payment intents', (stripe) => stripe.paymentIntents.list({ limit: 1 })],
  ['charges', (stripe) => stripe.charges.list({ limit: 1 })],
  ['refunds', (stripe) => stripe.refunds.list({ limit: 1 })],
  ['disputes', (stripe) => stripe.disputes.list({ limit: 1 })],
  ['checkout sessions', (stripe) => stripe.checkout.sessions.list({ limit: 1 })],
  ['setup intents', (stripe) => stripe.setupIntents.list({ limit: 1 })],
  ['entitlement features', (stripe) => stripe.entitlements.features.list({ limit: 1 })],
  ['early fraud warnings', (stripe) => stripe.radar.earlyFraudWarnings.list({ limit: 1 })],
  ['credit notes', (stripe) => stripe.creditNotes.list({ limit: 1 })],
  ['coupons', (stripe) => stripe.coupons.list({ limit: 1 })],
  ['promotion codes', (stripe) => stripe.promotionCodes.list({ limit: 1 })],
  ['subscription schedules', (stripe) => stripe.subscriptionSchedules.list({ limit: 1 })],
];

/** What Payfold reads per customer: checked on the account's newest customer, when it has one. */
const readsNeededPerCustomer: ReadonlyArray<
  [string, (stripe: Stripe, customer: string) => Promise<unknown>]
> = [
  ['payment methods', (stripe, customer) => stripe.customers.listPaymentMethods(customer, { limit: 1 })],
  ['tax ids', (stripe, customer) => stripe.customers.listTaxIds(customer, { limit: 1 })],
  [
    'active entitlements',
    (stripe, customer) => stripe.entitlements.activeEntitlements.list({ customer, limit: 1 }),
  ],
];

class MissingPermission extends Error {}

/**
 * A key as Stripe answers for it: the account it belongs to, or why it cannot be connected (not a
 * key of the environment's mode, refused by Stripe, or a restricted key that cannot read what
 * Payfold reads).
 */
export const checkStripeKey = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
): Promise<{ ok: true; key: string; accountId: string } | { ok: false; refusal: ConnectionRefusal }> => {
  const parsed = stripeSecretKeySchema(environment).safeParse(secretKey);
  if (!parsed.success) {
    const message = parsed.error.issues[0]?.message ?? 'not a Stripe secret key';
    return { ok: false, refusal: { code: 'invalid_key', message, status: 400 } };
  }
  const key = parsed.data;
  try {
    // Each request on its own: a restricted key's checks are twenty reads, and a 429 on the last
    // repeats that one alone.
    const read = stripeRead(gateway, environment, key);
    const account = await read((stripe) => stripe.accounts.retrieveCurrent());
    if (key.startsWith('rk_')) {
      const [newest] = (await read((stripe) => stripe.customers.list({ limit: 1 }))).data;
      const reads = [
        ...readsNeeded,
        ...(newest
          ? readsNeededPerCustomer.map(([what, check]): [string, (stripe: Stripe) => Promise<unknown>] => [
              what,
              (client) => check(client, newest.id),
            ])
          : []),
      ];
      for (const [what, check] of reads) {
        try {
          await read(check);
        } catch (error) {
          if (error instanceof StripeGatewayError && error.status === 403)
            throw new MissingPermission(`the restricted key cannot read ${what}: give it read access`);
          throw error;
        }
      }
    }
    return { ok: true, key, accountId: account.id };
  } catch (error) {
    if (error instanceof MissingPermission)
      return {
        ok: false,
        refusal: { code: 'insufficient_permissions', message: error.message, status: 400 },
      };
    if (error instanceof StripeGatewayError) {
      const refused = error.status !== undefined && error.status < 500;
      return {
        ok: false,
        refusal: { code: 'stripe_refused', message: error.message, status: refused ? 400 : 502 },
      };
    }
    throw error;
  }
};
