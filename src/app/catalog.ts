import type Stripe from 'stripe';
import { z } from 'zod';
import type { Environment } from '../domain/environment.js';
import type { EventLog } from '../ports/event-log.js';
import type { StripeGateway } from '../ports/stripe.js';
import { StripeGatewayError, type WithResponse } from '../ports/stripe.js';
import { appendFetchedObject } from './fetched-objects.js';
import { notConnectedMessage, type StripeConnections } from './stripe-connections/index.js';

const metadata = z.record(z.string().max(40), z.string().max(500)).optional();

export const productCreateSchema = z
  .object({ name: z.string().trim().min(1).max(250), description: z.string().max(1000).optional(), metadata })
  .strict();
export const productUpdateSchema = z
  .object({
    name: z.string().trim().min(1).max(250).optional(),
    description: z.string().max(1000).optional(),
    metadata,
  })
  .strict();
export const priceCreateSchema = z
  .object({
    product: z.string().regex(/^prod_/, 'a product id starts with prod_'),
    currency: z
      .string()
      .regex(/^[a-zA-Z]{3}$/, 'a three-letter ISO currency code')
      .transform((value) => value.toLowerCase()),
    unitAmount: z.number().int().min(0).max(99_999_999),
    interval: z.enum(['day', 'week', 'month', 'year']).optional(),
    /** Every `intervalCount` intervals (Stripe allows up to three years). */
    intervalCount: z.number().int().min(1).max(1095).optional(),
    lookupKey: z.string().max(200).optional(),
    nickname: z.string().max(250).optional(),
    taxBehavior: z.enum(['exclusive', 'inclusive', 'unspecified']).optional(),
    metadata,
  })
  .strict();

export type CatalogResult<T> =
  | { ok: true; object: T }
  | { ok: false; status: 404 | 409 | 400 | 502; message: string };

export interface CatalogDeps {
  connections: StripeConnections;
  gateway: StripeGateway;
  log: EventLog;
}

/**
 * Catalog changes: Stripe first (one idempotency key per change, reused by its retries), then the
 * object Stripe answered is appended to the log as a fetched object observed at the answer's
 * `Date`, so the tables show it before its webhook arrives; the webhook, a snapshot of the same
 * state, then changes no row.
 */
export const catalog = ({ connections, gateway, log }: CatalogDeps) => {
  const change = async <T extends { id: string; object: string }>(
    environment: Environment,
    run: (stripe: Stripe, options: Stripe.RequestOptions) => Promise<T>,
  ): Promise<CatalogResult<T>> => {
    const secretKey = await connections.secretKey(environment);
    if (!secretKey) return { ok: false, status: 409, message: notConnectedMessage(environment) };
    let answered: T & WithResponse;
    try {
      answered = (await gateway.call(environment, secretKey, ({ stripe, requestOptions }) =>
        run(stripe, requestOptions),
      )) as T & WithResponse;
    } catch (error) {
      if (!(error instanceof StripeGatewayError)) throw error;
      const status =
        error.status === 404 ? 404 : error.status !== undefined && error.status < 500 ? 400 : 502;
      return { ok: false, status, message: error.message };
    }
    return { ok: true, object: await appendFetchedObject(log, environment, answered) };
  };

  return {
    createProduct: (environment: Environment, input: z.output<typeof productCreateSchema>) =>
      change(environment, (stripe, options) => stripe.products.create(input, options)),
    updateProduct: (environment: Environment, id: string, input: z.output<typeof productUpdateSchema>) =>
      change(environment, (stripe, options) => stripe.products.update(id, input, options)),
    /** Archiving keeps the product (Stripe keeps it for past invoices) and stops new sales. */
    archiveProduct: (environment: Environment, id: string) =>
      change(environment, (stripe, options) => stripe.products.update(id, { active: false }, options)),
    createPrice: async (
      environment: Environment,
      input: z.output<typeof priceCreateSchema>,
    ): Promise<CatalogResult<Stripe.Price>> =>
      input.intervalCount && !input.interval
        ? { ok: false, status: 400, message: 'an interval count needs an interval (a recurring price)' }
        : change(environment, (stripe, options) =>
            stripe.prices.create(
              {
                product: input.product,
                currency: input.currency,
                unit_amount: input.unitAmount,
                ...(input.interval && {
                  recurring: {
                    interval: input.interval,
                    ...(input.intervalCount && { interval_count: input.intervalCount }),
                  },
                }),
                ...(input.lookupKey && { lookup_key: input.lookupKey }),
                ...(input.nickname && { nickname: input.nickname }),
                ...(input.taxBehavior && { tax_behavior: input.taxBehavior }),
                ...(input.metadata && { metadata: input.metadata }),
              },
              options,
            ),
          ),
    archivePrice: (environment: Environment, id: string) =>
      change(environment, (stripe, options) => stripe.prices.update(id, { active: false }, options)),
  };
};

export type Catalog = ReturnType<typeof catalog>;
