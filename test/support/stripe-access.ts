import Stripe from 'stripe';
import type { RunningEmulator } from '../../emulator/src/index.js';
import { stripeConnectionsStore } from '../../src/adapters/postgres/stripe-connections.js';
import type { StripeGateway } from '../../src/adapters/stripe/gateway.js';
import { stripeConnections } from '../../src/app/stripe-connections.js';
import type { TestDatabase } from './database.js';
import { testMasterKey } from './server.js';

/** The real `stripe` package, pointed at an emulator. */
export const emulatorStripe = (emulator: RunningEmulator, key = 'sk_test_for_tests'): Stripe => {
  const url = new URL(emulator.url);
  return new Stripe(key, { host: url.hostname, port: Number(url.port), protocol: 'http' });
};

/** Stripe connections over a test database, every call through the given gateway. */
export const testConnections = (db: TestDatabase, gateway: StripeGateway) =>
  stripeConnections({
    store: stripeConnectionsStore(db.pool),
    gateway,
    log: db.log,
    masterKeys: [Buffer.from(testMasterKey, 'hex')],
  });
