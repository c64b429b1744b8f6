// The sync measure: an emulator account of 5,000 customers and 2,000 subscriptions (each with its
// invoice, payment intent and charge), synced into the log through the real `stripe` package and
// the gateway at its default rate limit (10 requests/s in test mode), then projected. Reports
// objects/s appended and projected. No peer figure: @supabase/stripe-sync-engine's backfill needs
// Stripe itself.

import { startEmulator } from 'payfold-stripe-emulator';
import { pino } from 'pino';
import Stripe from 'stripe';
import { loadConfig } from '../src/main/config.js';
import { openPayfold } from '../src/main/open-payfold.js';
import { createDatabase, noPeerFigures, note } from './support.js';

const customers = 5000;
const subscriptions = 2000;

export const measureSync = async (adminUrl: string) => {
  const databaseUrl = await createDatabase(adminUrl, 'payfold_bench_sync');
  const emulator = await startEmulator({ accountId: 'acct_bench' });
  // Payfold as `payfold sync` opens it: migrated, every Stripe call through the gateway.
  const payfold = await openPayfold(
    loadConfig({
      DATABASE_URL: databaseUrl,
      PAYFOLD_MASTER_KEY: Buffer.alloc(32, 7).toString('hex'),
      STRIPE_API_BASE: emulator.url,
    }),
    pino({ level: 'silent' }),
    { poolSize: 4 },
  );
  try {
    const url = new URL(emulator.url);
    const stripe = new Stripe('sk_test_bench_builder', {
      host: url.hostname,
      port: Number(url.port),
      protocol: 'http',
    });
    note(`building an emulator account of ${customers} customers and ${subscriptions} subscriptions`);
    const product = await stripe.products.create({ name: 'Seats' });
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
    });
    for (let index = 0; index < customers; index += 1) {
      const customer = await stripe.customers.create({ email: `c${index}@bench.test` });
      if (index < subscriptions)
        await stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: price.id }],
          default_payment_method: 'pm_card_visa',
        });
    }
    const access = payfold.operations.stripe;
    const connected = await access.connections.connect('test', 'sk_test_bench_sync');
    if (!connected.ok) throw new Error(connected.refusal.message);
    note('syncing it into the log');
    const started = performance.now();
    const synced = await access.sync('test');
    const syncSeconds = (performance.now() - started) / 1000;
    if (!synced.ok) throw new Error(synced.message);
    const objects = synced.summary.kinds.reduce((sum, kind) => sum + kind.objects, 0);
    const pages = synced.summary.kinds.reduce((sum, kind) => sum + kind.pages, 0);
    note('projecting it');
    const projectingFrom = performance.now();
    await payfold.operations.projections.catchUp();
    const projectSeconds = (performance.now() - projectingFrom) / 1000;
    return {
      measure: 'sync',
      setup: { customers, subscriptions, requests_per_s: 10 },
      budget: null,
      payfold: {
        objects,
        pages,
        sync_seconds: Number(syncSeconds.toFixed(1)),
        objects_per_s: Math.round(objects / syncSeconds),
        // The rate limit is the ceiling: 10 pages of 100 a second.
        pages_per_s: Number((pages / syncSeconds).toFixed(1)),
        projection_seconds: Number(projectSeconds.toFixed(1)),
        projected_objects_per_s: Math.round(objects / projectSeconds),
      },
      peers: noPeerFigures('its backfill needs Stripe itself'),
    };
  } finally {
    await emulator.stop();
    await payfold.close();
  }
};
