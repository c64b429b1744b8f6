import { readFileSync } from 'node:fs';
import path from 'node:path';

/** One example object per Stripe resource type, in the current API's shape (stripe/openapi). */
export const openapiObjects = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, '../fixtures/stripe-openapi/fixtures3.json'), 'utf8'),
).resources as Record<string, Record<string, unknown>>;

/** Every object type the projections read, and an event type that carries it. */
export const projectedObjectTypes: ReadonlyArray<readonly [string, string]> = [
  ['product', 'product.updated'],
  ['price', 'price.updated'],
  ['plan', 'plan.updated'],
  ['customer', 'customer.updated'],
  ['subscription', 'customer.subscription.updated'],
  ['invoice', 'invoice.updated'],
  ['payment_intent', 'payment_intent.succeeded'],
  ['charge', 'charge.succeeded'],
  ['refund', 'refund.updated'],
  ['dispute', 'charge.dispute.updated'],
  ['checkout.session', 'checkout.session.completed'],
  ['invoice_payment', 'invoice_payment.paid'],
];
