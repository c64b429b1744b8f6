import path from 'node:path';

export { firstLine, priceFor, receiver, stripeFor } from '../src/testing.js';

/** Stripe's own example objects for the pinned API version (test/fixtures/README.md). */
export const openApiFixturesFile = path.resolve(
  import.meta.dirname,
  '../../test/fixtures/stripe-openapi/fixtures3.json',
);
