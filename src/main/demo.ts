import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runDemoStory, startEmulator } from 'payfold-stripe-emulator';
import Stripe from 'stripe';
import { startEmbeddedCluster } from '../adapters/postgres/embedded.js';
import { createPool, type Pool } from '../adapters/postgres/pool.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startPayfold } from './serve.js';

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
  {
    table: 'payments.entitlements',
    sql: `select subject_type, subject_id, lookup_key, feature_id
          from payments.entitlements order by subject_id, lookup_key`,
  },
  {
    table: 'payments.payment_methods',
    sql: `select subject_type, subject_id, card_brand, card_last4, card_exp_month as exp_month,
                 card_exp_year as exp_year, attached, customer_default, subscription_defaults
          from payments.payment_methods order by subject_id, card_brand`,
  },
  {
    table: 'payments.setup_intents',
    sql: `select subject_type, subject_id, status, usage, payment_method_id
          from payments.setup_intents order by setup_intent_id`,
  },
];

const statements = {
  // What an app asks before it lets the team use a feature.
  teamEntitlements: `
    select lookup_key from payments.entitlements
    where environment = 'test' and subject_type = 'team' and subject_id = 'acme' order by lookup_key`,
} as const;

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

export const readDemoTables = async (pool: Pool) => {
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
        const { rows } = await pool.query<{ lookup_key: string }>(statements.teamEntitlements);
        const features = rows.map((row) => row.lookup_key).join(', ');
        write(`  - ${step} (team:acme may use: ${features || 'nothing'})\n`);
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
