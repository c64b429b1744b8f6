import type { PoolClient } from 'pg';
import type { Row } from '../domain/stripe/rows.js';

/** A `payments.*` table as the projectors write it: its key and the columns they own. */
export interface PaymentsTable {
  name: string;
  key: readonly string[];
  columns: readonly string[];
}

const table = (name: string, key: readonly string[], columns: readonly string[]): PaymentsTable => ({
  name,
  key,
  columns,
});

export const paymentsTables = {
  products: table(
    'payments.products',
    ['environment', 'product_id'],
    ['name', 'description', 'active', 'default_price_id', 'metadata', 'deleted'],
  ),
  prices: table(
    'payments.prices',
    ['environment', 'price_id'],
    [
      'product_id',
      'active',
      'currency',
      'unit_amount',
      'type',
      'recurring_interval',
      'recurring_interval_count',
      'lookup_key',
      'nickname',
      'metadata',
      'deleted',
    ],
  ),
  customers: table(
    'payments.customers',
    ['environment', 'customer_id'],
    ['email', 'name', 'metadata', 'deleted', 'subject_type', 'subject_id'],
  ),
  subscriptions: table(
    'payments.subscriptions',
    ['environment', 'subscription_id'],
    [
      'customer_id',
      'subject_type',
      'subject_id',
      'status',
      'current_period_start',
      'current_period_end',
      'cancel_at_period_end',
      'cancel_at',
      'canceled_at',
      'ended_at',
      'trial_start',
      'trial_end',
      'latest_invoice_id',
      'metadata',
    ],
  ),
  subscriptionItems: table(
    'payments.subscription_items',
    ['environment', 'subscription_item_id'],
    ['subscription_id', 'price_id', 'product_id', 'quantity'],
  ),
  invoices: table(
    'payments.invoices',
    ['environment', 'invoice_id'],
    [
      'customer_id',
      'subscription_id',
      'status',
      'amount_due',
      'amount_paid',
      'currency',
      'hosted_invoice_url',
      'paid_at',
      'metadata',
      'deleted',
    ],
  ),
  paymentHistory: table(
    'payments.payment_history',
    ['environment', 'payment_id'],
    [
      'payment_intent_id',
      'charge_id',
      'type',
      'status',
      'subject_type',
      'subject_id',
      'customer_id',
      'invoice_id',
      'subscription_id',
      'amount',
      'amount_refunded',
      'currency',
      'paid_at',
      'failed_at',
    ],
  ),
  refunds: table(
    'payments.refunds',
    ['environment', 'refund_id'],
    ['charge_id', 'payment_intent_id', 'amount', 'currency', 'status', 'reason', 'metadata'],
  ),
  disputes: table(
    'payments.disputes',
    ['environment', 'dispute_id'],
    ['charge_id', 'payment_intent_id', 'amount', 'currency', 'status', 'reason'],
  ),
  checkoutSessions: table(
    'payments.checkout_sessions',
    ['id'],
    [
      'environment',
      'checkout_session_id',
      'mode',
      'status',
      'payment_status',
      'subject_type',
      'subject_id',
      'customer_email',
      'line_items',
      'success_url',
      'cancel_url',
      'customer_id',
      'payment_intent_id',
      'subscription_id',
      'url',
      'metadata',
    ],
  ),
} as const;

const upsertStatements = new Map<PaymentsTable, string>();

/**
 * Inserts new rows and updates changed ones in one statement; a row whose columns are all equal
 * is not written at all, so user triggers fire once per real change and never for a replay.
 * `created_at` is the earliest recorded time behind the row and only ever moves back.
 */
const upsertStatement = (target: PaymentsTable): string => {
  const cached = upsertStatements.get(target);
  if (cached) return cached;
  const all = [...target.key, ...target.columns];
  const statement = `
    insert into ${target.name} as t (${all.join(', ')}, created_at, updated_at)
    select ${all.join(', ')}, created_at, now()
    from jsonb_populate_recordset(null::${target.name}, $1::jsonb)
    on conflict (${target.key.join(', ')}) do update set
      ${target.columns.map((column) => `${column} = excluded.${column}`).join(', ')},
      created_at = least(t.created_at, excluded.created_at),
      updated_at = now()
    where (${target.columns.map((column) => `t.${column}`).join(', ')}, t.created_at)
      is distinct from (${target.columns.map((column) => `excluded.${column}`).join(', ')}, least(t.created_at, excluded.created_at))`;
  upsertStatements.set(target, statement);
  return statement;
};

export const upsertRows = async (
  client: PoolClient,
  target: PaymentsTable,
  rows: ReadonlyArray<Row & { created_at: Date }>,
): Promise<void> => {
  if (rows.length === 0) return;
  await client.query(upsertStatement(target), [JSON.stringify(rows)]);
};
