/**
 * `payfold/emulator`: the Stripe emulator (the `payfold-stripe-emulator` package), for an app's own
 * tests and development: `startEmulator()`, the test helpers, the demo story, and what tests
 * against it keep needing (`stripeFor`, `priceFor`, `receiver`). Never on a production code path:
 * Payfold reaches it only as "Stripe", through `STRIPE_API_BASE`.
 */
export * from 'payfold-stripe-emulator';
export { firstLine, priceFor, receiver, stripeFor } from 'payfold-stripe-emulator/testing';
