import type { Command } from 'commander';
import type { z } from 'zod';
import type { CatalogResult } from '../../app/catalog.js';
import type { StripeAccess } from '../../app/stripe-access.js';
import type { Environment } from '../../domain/environment.js';
import type { TableRow } from '../../ports/payments-reads.js';
import {
  environmentFlag,
  environmentOf,
  print,
  settleAfterAppend,
  table,
  UsageError,
  withOperations,
} from '../command-context.js';

/** A flag's value through a schema: one line naming the flag when it does not fit. */
const parsed = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const flag = String(issue?.path[0] ?? 'options').replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  throw new UsageError(`--${flag}: ${issue?.message ?? 'invalid'}`);
};

const catalogSchemas = () => import('../../app/catalog.js');

/**
 * Runs one catalog change (Stripe first, then the log), leaves the tables holding it, and prints
 * what Stripe answered, or the one line saying why not.
 */
const catalogChange = async (
  command: Command,
  given: string | undefined,
  change: (stripe: StripeAccess, environment: Environment) => Promise<CatalogResult<{ id: string }>>,
  done: (id: string) => string,
) => {
  const environment = await environmentOf(command, given);
  const { result, tables } = await withOperations(async (operations, database) => {
    const changed = await change(operations.stripe, environment);
    return {
      result: changed,
      tables: changed.ok ? (await settleAfterAppend(operations, database)).line : '',
    };
  });
  if (!result.ok) throw new UsageError(result.message);
  print(command, `${done(result.object.id)}\n${tables}`, result.object);
};

/** The catalog's products as the tables hold them, with their prices. */
const listCatalog = async (command: Command, given: string | undefined): Promise<TableRow[]> => {
  const environment = await environmentOf(command, given);
  return withOperations(async (operations) => (await operations.reads.catalog(environment)).products, {
    readOnly: true,
  });
};

const priceAmount = (price: TableRow) =>
  `${price.unit_amount ?? '—'} ${String(price.currency ?? '').toUpperCase()}${
    price.recurring_interval
      ? ` every ${price.recurring_interval_count ?? 1} ${price.recurring_interval}`
      : ' once'
  }`;

const registerProductCommands = (program: Command): void => {
  const products = program
    .command('products')
    .description('the catalog in Stripe: products (Stripe first, then the log)');
  products
    .command('list')
    .description('the products the tables hold (not deleted), newest last')
    .option(...environmentFlag)
    .action(async function (this: Command, options: { environment?: string }) {
      const catalog = await listCatalog(this, options.environment);
      print(
        this,
        table(
          catalog.map((product) => ({ ...product, prices: (product.prices as unknown[]).length })),
          ['product_id', 'name', 'active', 'default_price_id', 'prices'],
        ),
        { products: catalog },
      );
    });
  products
    .command('create')
    .description('create a product in Stripe')
    .option(...environmentFlag)
    .requiredOption('--name <name>', 'the name customers see')
    .option('--description <text>', 'a description customers see')
    .action(async function (
      this: Command,
      options: { environment?: string; name: string; description?: string },
    ) {
      const input = parsed((await catalogSchemas()).productCreateSchema, {
        name: options.name,
        description: options.description,
      });
      return catalogChange(
        this,
        options.environment,
        (stripe, environment) => stripe.catalog.createProduct(environment, input),
        (id) => `created product ${id}`,
      );
    });
  products
    .command('update')
    .description("change a product's name or description in Stripe")
    .argument('<product>', 'prod_...')
    .option(...environmentFlag)
    .option('--name <name>', 'the new name')
    .option('--description <text>', 'the new description')
    .action(async function (
      this: Command,
      id: string,
      options: { environment?: string; name?: string; description?: string },
    ) {
      const input = parsed((await catalogSchemas()).productUpdateSchema, {
        name: options.name,
        description: options.description,
      });
      return catalogChange(
        this,
        options.environment,
        (stripe, environment) => stripe.catalog.updateProduct(environment, id, input),
        (updated) => `updated product ${updated}`,
      );
    });
  products
    .command('archive')
    .description('archive a product: no new sales, kept for past invoices')
    .argument('<product>', 'prod_...')
    .option(...environmentFlag)
    .action(function (this: Command, id: string, options: { environment?: string }) {
      return catalogChange(
        this,
        options.environment,
        (stripe, environment) => stripe.catalog.archiveProduct(environment, id),
        (archived) => `archived product ${archived}`,
      );
    });
};

interface PriceCreateOptions {
  environment?: string;
  product: string;
  currency: string;
  unitAmount: string;
  interval?: string;
  intervalCount?: string;
  lookupKey?: string;
  nickname?: string;
  taxBehavior?: string;
}

const registerPriceCommands = (program: Command): void => {
  const prices = program
    .command('prices')
    .description('the catalog in Stripe: prices (Stripe first, then the log)');
  prices
    .command('list')
    .description('the prices the tables hold, product by product')
    .option(...environmentFlag)
    .action(async function (this: Command, options: { environment?: string }) {
      const catalog = await listCatalog(this, options.environment);
      const rows = catalog.flatMap((product) =>
        (product.prices as TableRow[]).map((price) => ({ ...price, amount: priceAmount(price) })),
      );
      print(this, table(rows, ['price_id', 'product_id', 'amount', 'lookup_key', 'active']), {
        prices: rows,
      });
    });
  prices
    .command('create')
    .description('create a price in Stripe: one-time, or recurring with --interval')
    .option(...environmentFlag)
    .requiredOption('--product <product>', 'prod_...')
    .requiredOption('--currency <code>', 'usd, eur, jpy...')
    .requiredOption('--unit-amount <amount>', "in the currency's minor unit (cents)")
    .option('--interval <interval>', 'day, week, month or year, for a recurring price')
    .option('--interval-count <count>', 'every this many intervals (with --interval; default 1)')
    .option('--lookup-key <key>', 'a key your app finds the price by')
    .option('--nickname <text>', 'a name for the price, not shown to customers')
    .option('--tax-behavior <behavior>', 'exclusive, inclusive or unspecified')
    .action(async function (this: Command, options: PriceCreateOptions) {
      // A mistake of the command line is told before any database or Stripe is touched.
      const input = parsed((await catalogSchemas()).priceCreateSchema, {
        product: options.product,
        currency: options.currency,
        unitAmount: Number(options.unitAmount),
        ...(options.interval && { interval: options.interval }),
        ...(options.intervalCount && { intervalCount: Number(options.intervalCount) }),
        ...(options.lookupKey && { lookupKey: options.lookupKey }),
        ...(options.nickname && { nickname: options.nickname }),
        ...(options.taxBehavior && { taxBehavior: options.taxBehavior }),
      });
      return catalogChange(
        this,
        options.environment,
        (stripe, environment) => stripe.catalog.createPrice(environment, input),
        (id) => `created price ${id}`,
      );
    });
  prices
    .command('archive')
    .description('archive a price: no new checkouts, kept for existing subscriptions')
    .argument('<price>', 'price_...')
    .option(...environmentFlag)
    .action(function (this: Command, id: string, options: { environment?: string }) {
      return catalogChange(
        this,
        options.environment,
        (stripe, environment) => stripe.catalog.archivePrice(environment, id),
        (archived) => `archived price ${archived}`,
      );
    });
};

/** `products list|create|update|archive` and `prices list|create|archive`. */
export const registerCatalogCommands = (program: Command): void => {
  registerProductCommands(program);
  registerPriceCommands(program);
};
