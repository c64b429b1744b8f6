import { type RunningEmulator, startEmulator } from 'payfold-stripe-emulator';
import Stripe from 'stripe';
import { stripeConnectionsStore } from '../../src/adapters/postgres/stripe-connections.js';
import { secretBox } from '../../src/adapters/secret-box.js';
import type { StripeGateway } from '../../src/adapters/stripe/gateway.js';
import { stripeConnections } from '../../src/app/stripe-connections/index.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startTestServer, type TestServer, testMasterKey } from './server.js';

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
    secrets: secretBox([Buffer.from(testMasterKey, 'hex')]),
  });

/** The secret the emulator signs the events it forwards with, which the test server accepts. */
export const emulatorForwardSecret = 'whsec_emulator_forwarding_for_tests';

/**
 * A test database, `payfold serve` on it with `env` (its Stripe calls going to the emulator), and
 * the emulator forwarding its events to it. `prepare` runs on the database before the server starts.
 */
export const startServerWithEmulator = async (
  env: Record<string, string>,
  prepare: (db: TestDatabase) => Promise<void> = async () => undefined,
): Promise<{ db: TestDatabase; server: TestServer; emulator: RunningEmulator }> => {
  const db = await createTestDatabase();
  await prepare(db);
  // The emulator first, on a port of its own, then the server that calls it, then the forwarding.
  const emulator = await startEmulator({ forwardSecret: emulatorForwardSecret });
  const server = await startTestServer(db.url, {
    ...env,
    STRIPE_API_BASE: emulator.url,
    STRIPE_WEBHOOK_SECRET_TEST: emulatorForwardSecret,
  });
  emulator.forwardTo(`${server.url}/api/webhooks/stripe/test`);
  return { db, server, emulator };
};
