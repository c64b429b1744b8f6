import { isUuid, requestIdMetadataKey } from '../subject.js';
import {
  chargeSchema,
  checkoutSessionSchema,
  invoicePaymentSchema,
  invoiceSchema,
  paymentIntentSchema,
  paymentMethodSchema,
  subscriptionSchema,
} from './objects.js';

export interface Link {
  link: string;
  targetId: string;
}

const links = (pairs: Array<[string, string | null]>): Link[] =>
  pairs.flatMap(([link, targetId]) => (targetId ? [{ link, targetId }] : []));

/** What a snapshot points at, for finding the rows built from several objects. */
export const linksOf = (objectType: string, snapshot: Record<string, unknown>): Link[] => {
  switch (objectType) {
    case 'charge': {
      const charge = chargeSchema.parse(snapshot);
      return links([
        ['payment_intent', charge.payment_intent],
        ['invoice', charge.invoice],
      ]);
    }
    case 'invoice': {
      const invoice = invoiceSchema.parse(snapshot);
      return links([
        ['subscription', invoice.subscription],
        ['payment_intent', invoice.payment_intent],
        ['charge', invoice.charge],
      ]);
    }
    case 'invoice_payment': {
      const payment = invoicePaymentSchema.parse(snapshot);
      return links([
        ['invoice', payment.invoice],
        ['payment_intent', payment.payment.paymentIntent],
        ['charge', payment.payment.charge],
      ]);
    }
    case 'checkout.session': {
      // A session created through Payfold lands on the row of the request that created it.
      const requestId = checkoutSessionSchema.parse(snapshot).metadata[requestIdMetadataKey];
      return links([[requestIdMetadataKey, requestId && isUuid(requestId) ? requestId.toLowerCase() : null]]);
    }
    case 'payment_intent':
      return links([['invoice', paymentIntentSchema.parse(snapshot).invoice]]);
    case 'payment_method':
      return links([['customer', paymentMethodSchema.parse(snapshot).customer]]);
    case 'subscription':
      return links([['default_payment_method', subscriptionSchema.parse(snapshot).default_payment_method]]);
    default:
      return [];
  }
};
