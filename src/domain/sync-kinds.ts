/** Every kind of object a sync lists, in the order it lists them. */
export const syncObjectKinds = [
  'product',
  'price',
  'customer',
  'subscription',
  'invoice',
  'payment_intent',
  'charge',
  'refund',
  'dispute',
  'checkout.session',
] as const;

export type SyncObjectKind = (typeof syncObjectKinds)[number];
