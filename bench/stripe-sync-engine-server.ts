// The first peer: @supabase/stripe-sync-engine's processWebhook behind the smallest HTTP server
// that can call it (bench/peer-server.ts). Run as a child process by bench/run.ts.
import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import { offlineStripe, peerEnvironment, servePeerWebhooks } from './peer-server.js';

// Its ESM build looks for its migrations through `__dirname` and fails; the CommonJS build works.
const { runMigrations, StripeSync } = createRequire(import.meta.url)(
  '@supabase/stripe-sync-engine',
) as typeof import('@supabase/stripe-sync-engine');

const { databaseUrl, webhookSecret } = peerEnvironment;
await runMigrations({ schema: 'stripe', databaseUrl });
const sync = new StripeSync({
  schema: 'stripe',
  stripeSecretKey: 'sk_test_bench',
  stripeWebhookSecret: webhookSecret,
  backfillRelatedEntities: false,
  autoExpandLists: false,
  poolConfig: { connectionString: databaseUrl, max: 20 },
});
(sync as unknown as { stripe: Stripe }).stripe = offlineStripe();

servePeerWebhooks((payload, signature) => sync.processWebhook(payload, signature));
