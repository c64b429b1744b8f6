import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import Stripe from 'stripe';
import { startEmbeddedCluster } from '../adapters/postgres/embedded.js';
import { createPool } from '../adapters/postgres/pool.js';
import { emulatorTestHelpers } from '../adapters/stripe-emulator/client.js';
import { startEmulator } from '../adapters/stripe-emulator/server.js';
import { subjectMetadata } from '../domain/subject.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startPayfold } from './serve.js';

/** What the demo's story created, for the tables and the tests to find. */
export interface DemoStory {
  subscriptionId: string;
  oneTimePaymentIntentId: string;
}

const day = 24 * 60 * 60;

export type DemoStep =
  | 'catalog created'
  | 'team subscribed through Checkout'
  | 'user paid once, after a declined card'
  | 'a month passed: subscription renewed'
  | 'user refunded half'
  | 'team canceled at period end; the period ended';

/**
 * The demo's story, told to Stripe (or the emulator) through the `stripe` package: a product
 * with a monthly and a one-time price; a team subscribes through Checkout (on a test clock, so
 * that time can pass); a user buys the one-time price through Checkout, the first card declined;
 * a month passes and the subscription renews; the user gets part of their money back; the team
 * cancels at period end and the period ends.
 */
export const runDemoStory = async (
  stripe: Stripe,
  options: {
    /** Where the test clock starts (Unix seconds); now by default. */
    start?: number;
    /** Awaited after each step of the story, with what just happened. */
    afterStep?: (step: DemoStep) => Promise<void>;
  } = {},
): Promise<DemoStory> => {
  const afterStep = options.afterStep ?? (async () => undefined);
  const helpers = emulatorTestHelpers(stripe);
  const product = await stripe.products.create({ name: 'Team plan', description: 'Seats for a team' });
  const monthly = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    lookup_key: 'team_monthly',
  });
  const lifetime = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 9900,
    lookup_key: 'lifetime_pass',
  });
  await stripe.products.update(product.id, { default_price: monthly.id });
  await afterStep('catalog created');

  const clock = await stripe.testHelpers.testClocks.create({
    frozen_time: options.start ?? Math.floor(Date.now() / 1000),
    name: 'payfold demo',
  });
  const team = await stripe.customers.create({
    email: 'billing@acme.test',
    name: 'Acme',
    test_clock: clock.id,
  });
  const teamSubject = subjectMetadata({ type: 'team', id: 'acme' });
  const teamCheckout = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: team.id,
    line_items: [{ price: monthly.id, quantity: 3 }],
    metadata: teamSubject,
    subscription_data: { metadata: teamSubject },
    success_url: 'https://app.example/billing?done=1',
    cancel_url: 'https://app.example/billing',
  });
  const subscribed = await helpers.completeCheckoutSession(teamCheckout.id, {
    payment_method: 'pm_card_visa',
  });

  await afterStep('team subscribed through Checkout');

  const userSubject = subjectMetadata({ type: 'user', id: 'ada' });
  const userCheckout = await stripe.checkout.sessions.create({
    mode: 'payment',
    customer_creation: 'always',
    customer_email: 'ada@example.test',
    line_items: [{ price: lifetime.id, quantity: 1 }],
    metadata: userSubject,
    payment_intent_data: { metadata: userSubject },
    success_url: 'https://app.example/pass?done=1',
  });
  await helpers.completeCheckoutSession(userCheckout.id, { payment_method: 'pm_card_chargeDeclined' });
  const bought = await helpers.completeCheckoutSession(userCheckout.id, { payment_method: 'pm_card_visa' });
  await afterStep('user paid once, after a declined card');

  const subscription = await stripe.subscriptions.retrieve(subscribed.subscription as string);
  const renewal = subscription.items.data[0]?.current_period_end as number;
  await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: renewal + day });
  await afterStep('a month passed: subscription renewed');

  await stripe.refunds.create({
    payment_intent: bought.payment_intent as string,
    amount: 4900,
    reason: 'requested_by_customer',
  });
  await afterStep('user refunded half');

  const ending = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
  await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: (ending.cancel_at as number) + day });
  await afterStep('team canceled at period end; the period ended');
  return { subscriptionId: subscription.id, oneTimePaymentIntentId: bought.payment_intent as string };
};

/** The tables the demo prints: the rows an app reads, a few columns each. */
export const demoTables: ReadonlyArray<{ table: string; sql: string }> = [
  {
    table: 'payments.products',
    sql: 'select product_id, name, default_price_id from payments.products order by name',
  },
  {
    table: 'payments.prices',
    sql: `select price_id, unit_amount, currency, type, recurring_interval as interval, lookup_key
          from payments.prices order by unit_amount`,
  },
  {
    table: 'payments.customer_mappings',
    sql: 'select subject_type, subject_id, customer_id from payments.customer_mappings order by subject_type',
  },
  {
    table: 'payments.checkout_sessions',
    sql: `select mode, status, payment_status, subject_type, subject_id, customer_email
          from payments.checkout_sessions order by mode desc`,
  },
  {
    table: 'payments.subscriptions',
    sql: `select subscription_id, subject_type, subject_id, status, cancel_at_period_end,
                 to_char(current_period_end, 'YYYY-MM-DD') as period_end,
                 to_char(ended_at, 'YYYY-MM-DD') as ended
          from payments.subscriptions order by subscription_id`,
  },
  {
    table: 'payments.subscription_items',
    sql: 'select subscription_id, price_id, quantity from payments.subscription_items order by subscription_id',
  },
  {
    table: 'payments.invoices',
    sql: `select invoice_id, status, amount_due, amount_paid, to_char(paid_at, 'YYYY-MM-DD') as paid
          from payments.invoices order by paid_at nulls last, invoice_id`,
  },
  {
    table: 'payments.payment_history',
    sql: `select type, status, subject_type, subject_id, amount, amount_refunded,
                 to_char(paid_at, 'YYYY-MM-DD') as paid
          from payments.payment_history order by type, paid_at nulls last`,
  },
  {
    table: 'payments.refunds',
    sql: 'select refund_id, payment_intent_id, amount, status, reason from payments.refunds order by refund_id',
  },
];

/** Rows as a plain text table: a header, a rule, and one line per row. */
export const formatTable = (rows: Record<string, unknown>[]): string => {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0] as Record<string, unknown>);
  const cells = rows.map((row) => columns.map((column) => (row[column] == null ? '' : String(row[column]))));
  const widths = columns.map((column, index) =>
    Math.max(column.length, ...cells.map((line) => (line[index] as string).length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index] as number))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
};

export const readDemoTables = async (pool: pg.Pool) => {
  const tables: Array<{ table: string; rows: Record<string, unknown>[] }> = [];
  for (const { table, sql } of demoTables) tables.push({ table, rows: (await pool.query(sql)).rows });
  return tables;
};

/**
 * `npm run demo`: a throwaway embedded Postgres (never `DATABASE_URL`), the Stripe emulator
 * delivering its events to an in-process `payfold serve`, the story, then the tables.
 */
export const runDemo = async (write: (text: string) => void): Promise<void> => {
  const started = Date.now();
  const directory = await mkdtemp(path.join(tmpdir(), 'payfold-demo-'));
  // As root, Postgres runs as its own user, which must reach the data directory.
  await chmod(directory, 0o755);
  write('Starting an embedded Postgres, the Stripe emulator and payfold serve…\n');
  const cluster = await startEmbeddedCluster({
    dataDirectory: path.join(directory, 'postgres'),
    persistent: false,
  });
  const webhookSecret = `whsec_${randomBytes(24).toString('hex')}`;
  const config = loadConfig({
    DATABASE_URL: cluster.url,
    PAYFOLD_MASTER_KEY: randomBytes(32).toString('hex'),
    STRIPE_WEBHOOK_SECRET_TEST: webhookSecret,
    PORT: '0',
    PAYFOLD_LOG_LEVEL: 'error',
  });
  const payfold = await startPayfold(config, createLogger(config.logLevel));
  const emulator = await startEmulator({
    forwardTo: `${payfold.url}/api/webhooks/stripe/test`,
    forwardSecret: webhookSecret,
  });
  const pool = createPool(cluster.url);
  try {
    const url = new URL(emulator.url);
    const stripe = new Stripe('sk_test_payfold_demo', {
      host: url.hostname,
      port: Number(url.port),
      protocol: 'http',
    });
    write('Telling the story to the emulator, each step projected before the next:\n');
    await runDemoStory(stripe, {
      afterStep: async (step) => {
        await emulator.settled();
        await payfold.runner.catchUp();
        write(`  - ${step}\n`);
      },
    });
    const events = emulator.store.events.length;
    write(`\nStripe emitted ${events} events; Payfold verified, logged and projected each of them:\n`);
    for (const { table, rows } of await readDemoTables(pool)) write(`\n${table}\n${formatTable(rows)}\n`);
    write(
      [
        '',
        `Done in ${((Date.now() - started) / 1000).toFixed(1)} s. To run Payfold for real:`,
        '  STRIPE_WEBHOOK_SECRET_TEST=whsec_… npx payfold serve     # embedded Postgres under ./.payfold',
        '  DATABASE_URL=postgres://… PAYFOLD_MASTER_KEY=… npx payfold serve',
        'then point a Stripe webhook endpoint at http://<host>:8080/api/webhooks/stripe/test (see README).',
        '',
      ].join('\n'),
    );
  } finally {
    await pool.end();
    await emulator.stop();
    await payfold.close();
    await cluster.stop();
    await rm(directory, { recursive: true, force: true });
  }
};
