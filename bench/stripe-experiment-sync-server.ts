// The second peer: Stripe's own sync engine (npm `stripe-experiment-sync`), its processWebhook
// behind the smallest HTTP server that can call it, as the first peer's. Run as a child process by
// bench/run.ts. Its migrations build its tables from Stripe's OpenAPI spec, which it would fetch
// from GitHub: it is given a local one instead (`bench/stripe-openapi-spec.ts`, from the fixtures).
// Given its account id, it asks Stripe for nothing when it starts; any call it would make while
// processing goes to a closed local port and fails fast, as the first peer's (bench/peer-server.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { offlineStripe, peerEnvironment, servePeerWebhooks } from './peer-server.js';
import { openApiSpecOfFixtures } from './stripe-openapi-spec.js';

/**
 * The little of its API the server uses. Loaded by a name TypeScript does not follow: its types
 * bring the `stripe` package's ambient declarations of another version (17) into this program,
 * where they clash with the 23 that Payfold and the emulator are written against.
 */
interface StripeSyncEngine {
  runMigrations(config: Record<string, unknown>): Promise<void>;
  StripeSync: {
    create(config: Record<string, unknown>): Promise<{
      stripe: unknown;
      webhook: {
        processWebhook(payload: Buffer, signature: string): Promise<void>;
        deps: { stripe: unknown };
      };
    }>;
  };
}
const engineName = 'stripe-experiment-sync';
const { runMigrations, StripeSync } = (await import(engineName)) as StripeSyncEngine;

const { databaseUrl, webhookSecret } = peerEnvironment;
const quiet = { info() {}, warn() {}, error() {} };

const specPath = path.join(mkdtempSync(path.join(tmpdir(), 'bench-stripe-openapi-')), 'spec3.json');
writeFileSync(specPath, JSON.stringify(openApiSpecOfFixtures()));
await runMigrations({ databaseUrl, schemaName: 'stripe', openApiSpecPath: specPath, logger: quiet });
const sync = await StripeSync.create({
  databaseUrl,
  schemaName: 'stripe',
  stripeSecretKey: 'sk_test_bench',
  stripeAccountId: 'acct_bench',
  stripeWebhookSecret: webhookSecret,
  backfillRelatedEntities: false,
  autoExpandLists: false,
  poolConfig: { connectionString: databaseUrl, max: 20 },
  logger: quiet,
});
const offline = offlineStripe();
sync.stripe = offline;
sync.webhook.deps.stripe = offline;

servePeerWebhooks((payload, signature) => sync.webhook.processWebhook(payload, signature));
