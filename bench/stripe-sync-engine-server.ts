// The peer in the ingest measure: @supabase/stripe-sync-engine's processWebhook behind the smallest
// HTTP server that can call it. Run as a child process by bench/run.ts.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import Stripe from 'stripe';

// Its ESM build looks for its migrations through `__dirname` and fails; the CommonJS build works.
const { runMigrations, StripeSync } = createRequire(import.meta.url)(
  '@supabase/stripe-sync-engine',
) as typeof import('@supabase/stripe-sync-engine');

const databaseUrl = process.env.BENCH_PEER_DATABASE_URL as string;
const webhookSecret = process.env.BENCH_WEBHOOK_SECRET as string;
const port = Number(process.env.BENCH_PEER_PORT);
const closedPort = Number(process.env.BENCH_CLOSED_PORT);

await runMigrations({ schema: 'stripe', databaseUrl });
const sync = new StripeSync({
  schema: 'stripe',
  stripeSecretKey: 'sk_test_bench',
  stripeWebhookSecret: webhookSecret,
  backfillRelatedEntities: false,
  autoExpandLists: false,
  poolConfig: { connectionString: databaseUrl, max: 20 },
});
// Any call it would make to Stripe goes to a closed local port and fails fast (counted as non-2xx).
(sync as unknown as { stripe: Stripe }).stripe = new Stripe('sk_test_bench', {
  host: '127.0.0.1',
  port: closedPort,
  protocol: 'http',
  maxNetworkRetries: 0,
});

createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    sync
      .processWebhook(Buffer.concat(chunks), request.headers['stripe-signature'] as string)
      .then(() => {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      })
      .catch(() => {
        response.writeHead(500).end();
      });
  });
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
