import type Stripe from 'stripe';
import type { Environment } from '../domain/environment.js';
import type { StripeGateway } from '../ports/stripe.js';

/**
 * One request to Stripe through the gateway, retried on its own. A read that takes several
 * requests (a customer's discounts, every page of its entitlements, a restricted key's checks)
 * makes each through this, so a 429 on one repeats that request alone. Retried whole, a read of
 * two requests loses an attempt to a 20% rate limit 36% of the time, not 20%, and runs out of
 * retries far sooner.
 */
export type StripeRead = <T>(request: (stripe: Stripe) => Promise<T>) => Promise<T>;

export const stripeRead =
  (gateway: StripeGateway, environment: Environment, secretKey: string): StripeRead =>
  (request) =>
    gateway.call(environment, secretKey, ({ stripe }) => request(stripe));
