import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { BillingOverview, Catalog, PaymentsReads, WebhookActivity } from '../../ports/payments-reads.js';

/** The rows of a table as one jsonb array; `children` adds to each row arrays of rows it holds. */
const rowsOf = (
  table: string,
  alias: string,
  where: string,
  order: string,
  children: Record<string, string> = {},
) => {
  const row = Object.entries(children).reduce(
    (built, [name, rows]) => `${built} || jsonb_build_object('${name}', ${rows})`,
    `to_jsonb(${alias})`,
  );
  return `(select coalesce(jsonb_agg(${row} order by ${order}), '[]') from payments.${table} ${alias} where ${where})`;
};

/**
 * Rows of the overview's subject: of one of its customers, or naming the subject themselves
 * ($1 environment, $2/$3 subject; `customer_ids` is the overview's list of its customers).
 */
const ofSubject = (alias: string) =>
  `${alias}.environment = $1 and (${alias}.customer_id in (select customer_id from customer_ids) or (${alias}.subject_type = $2 and ${alias}.subject_id = $3))`;

/** Rows (refunds, disputes, warnings) about a payment of the subject's or of its customers'. */
const onPaymentsOfSubject = (alias: string) =>
  `${alias}.environment = $1 and exists (select 1 from payments.payment_history p where ${ofSubject('p')}
     and (p.payment_intent_id = ${alias}.payment_intent_id or p.charge_id = ${alias}.charge_id))`;

// A subject's customers: its mapping, customers naming it in their metadata, and the customers of
// the subscriptions and payments that name it. A customer overview ($4) starts from that customer.
const overviewSql = `
  with customer_ids as (
    select $4::text as customer_id where $4::text is not null
    union select customer_id from payments.customer_mappings where environment = $1 and subject_type = $2 and subject_id = $3
    union select customer_id from payments.customers where environment = $1 and subject_type = $2 and subject_id = $3
    union select customer_id from payments.subscriptions
      where environment = $1 and subject_type = $2 and subject_id = $3 and customer_id is not null
    union select customer_id from payments.payment_history
      where environment = $1 and subject_type = $2 and subject_id = $3 and customer_id is not null
  )
  select jsonb_build_object(
    'customers', ${rowsOf('customers', 'c', 'c.environment = $1 and c.customer_id in (select customer_id from customer_ids)', 'c.customer_id')},
    'customerMappings', ${rowsOf('customer_mappings', 'm', ofSubject('m'), 'm.subject_type, m.subject_id')},
    'subscriptions', ${rowsOf('subscriptions', 's', ofSubject('s'), 's.created_at desc, s.subscription_id', {
      items: rowsOf(
        'subscription_items',
        'i',
        'i.environment = s.environment and i.subscription_id = s.subscription_id',
        'i.subscription_item_id',
      ),
    })},
    'invoices', ${rowsOf(
      'invoices',
      'v',
      'v.environment = $1 and v.customer_id in (select customer_id from customer_ids)',
      'v.created_at desc, v.invoice_id',
    )},
    'paymentHistory', ${rowsOf(
      'payment_history',
      'p',
      ofSubject('p'),
      'p.created_at desc, p.payment_intent_id',
    )},
    'refunds', ${rowsOf('refunds', 'r', onPaymentsOfSubject('r'), 'r.created_at desc, r.refund_id')},
    'disputes', ${rowsOf('disputes', 'd', onPaymentsOfSubject('d'), 'd.created_at desc, d.dispute_id')},
    'checkoutSessions', ${rowsOf('checkout_sessions', 'k', ofSubject('k'), 'k.created_at desc, k.id')},
    'paymentMethods', ${rowsOf(
      'payment_methods',
      'pm',
      ofSubject('pm'),
      'pm.attached desc, pm.created_at desc, pm.payment_method_id',
    )},
    'setupIntents', ${rowsOf(
      'setup_intents',
      'si',
      ofSubject('si'),
      'si.created_at desc, si.setup_intent_id',
    )},
    'entitlements', (
      select coalesce(jsonb_agg(to_jsonb(e) || jsonb_build_object('feature_name', f.name)
        order by e.lookup_key, e.customer_id), '[]')
      from payments.entitlements e
      left join payments.features f on f.environment = e.environment and f.feature_id = e.feature_id
      where ${ofSubject('e')}
    ),
    'taxIds', ${rowsOf('tax_ids', 'x', ofSubject('x'), 'x.deleted, x.created_at, x.tax_id_id')},
    'earlyFraudWarnings', ${rowsOf(
      'early_fraud_warnings',
      'w',
      onPaymentsOfSubject('w'),
      'w.created_at desc, w.early_fraud_warning_id',
    )},
    'creditNotes', ${rowsOf('credit_notes', 'n', ofSubject('n'), 'n.created_at desc, n.credit_note_id')},
    'discounts', (
      select coalesce(jsonb_agg(to_jsonb(d) || jsonb_build_object(
          'coupon_name', c.name, 'percent_off', c.percent_off, 'amount_off', c.amount_off,
          'currency', c.currency, 'duration', c.duration)
        order by d.deleted, d.start_at desc, d.discount_id), '[]')
      from payments.discounts d
      left join payments.coupons c on c.environment = d.environment and c.coupon_id = d.coupon_id
      where ${ofSubject('d')}
    ),
    'subscriptionSchedules', ${rowsOf(
      'subscription_schedules',
      'h',
      ofSubject('h'),
      'h.created_at desc, h.subscription_schedule_id',
    )}
  ) as overview`;

const statements = {
  overview: overviewSql,
  // A subject written `type:id`, a customer id, or part of an email or name.
  searchCustomers: `
    select c.customer_id, c.email, c.name, c.deleted,
           coalesce(m.subject_type, c.subject_type) as subject_type,
           coalesce(m.subject_id, c.subject_id) as subject_id, c.updated_at
    from payments.customers c
    left join payments.customer_mappings m on m.environment = c.environment and m.customer_id = c.customer_id
    where c.environment = $1
      and ($2 = '' or c.customer_id = $2 or c.email ilike $3 or c.name ilike $3
           or m.subject_type || ':' || m.subject_id = $2 or c.subject_type || ':' || c.subject_id = $2)
    order by c.updated_at desc, c.customer_id
    limit 50`,
  catalog: `
    select
      ${rowsOf(
        'products',
        'p',
        'p.environment = $1 and not p.deleted',
        'p.active desc, p.created_at, p.product_id',
        {
          prices: rowsOf(
            'prices',
            'r',
            'r.environment = p.environment and r.product_id = p.product_id',
            'r.active desc, r.created_at, r.price_id',
          ),
          features: rowsOf(
            'product_features',
            'g',
            'g.environment = p.environment and g.product_id = p.product_id and not g.deleted',
            'g.lookup_key',
          ),
        },
      )} as products,
      ${rowsOf('features', 'f', 'f.environment = $1', 'f.active desc, f.lookup_key')} as features,
      ${rowsOf(
        'coupons',
        'c',
        'c.environment = $1 and not c.deleted',
        'c.valid desc, c.created_at, c.coupon_id',
        {
          promotion_codes: rowsOf(
            'promotion_codes',
            'k',
            'k.environment = c.environment and k.coupon_id = c.coupon_id',
            'k.active desc, k.code',
          ),
        },
      )} as coupons`,
  recentDeliveries: `
    select w.event_id, w.event_type, w.object_type, w.object_id, w.received_at, w.log_position,
           coalesce(r.redeliveries, 0) as redeliveries
    from payments.webhook_events w
    left join payfold.webhook_redeliveries r on r.environment = w.environment and r.event_id = w.event_id
    where w.environment = $1
    order by w.received_at desc, w.log_position desc
    limit $2`,
  lastWebhooks: `
    select environment, max(received_at) as received_at from payments.webhook_events group by environment`,
  perMinute: `
    select date_trunc('minute', received_at) as minute, count(*)::int as events
    from payments.webhook_events
    where environment = $1 and received_at > now() - interval '1 day'
    group by 1 order by 1`,
  recordRedelivery: `
    insert into payfold.webhook_redeliveries (environment, event_id, redeliveries, last_redelivered_at)
    values ($1, $2, 1, now())
    on conflict (environment, event_id) do update
      set redeliveries = payfold.webhook_redeliveries.redeliveries + 1, last_redelivered_at = now()`,
} as const;

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** What the admin API reads of the `payments.*` tables for the dashboard, by named statement. */
export const paymentsReads = (pool: pg.Pool): PaymentsReads => ({
  async overview(environment, of) {
    const subject = 'subject' in of ? of.subject : undefined;
    const customerId = 'customerId' in of ? of.customerId : null;
    const { rows } = await pool.query<{ overview: BillingOverview }>(statements.overview, [
      environment,
      subject?.type ?? null,
      subject?.id ?? null,
      customerId,
    ]);
    return rows[0]?.overview as BillingOverview;
  },

  async searchCustomers(environment, search) {
    const text = search.trim();
    const { rows } = await pool.query(statements.searchCustomers, [environment, text, likePattern(text)]);
    return rows;
  },

  async catalog(environment) {
    const { rows } = await pool.query<Catalog>(statements.catalog, [environment]);
    return rows[0] ?? { products: [], features: [], coupons: [] };
  },

  async webhookActivity(environment, limit): Promise<WebhookActivity> {
    const [deliveries, perMinute] = await Promise.all([
      pool.query(statements.recentDeliveries, [environment, limit]),
      pool.query<{ minute: Date; events: number }>(statements.perMinute, [environment]),
    ]);
    return {
      deliveries: deliveries.rows,
      perMinute: perMinute.rows.map((row) => ({ minute: row.minute.toISOString(), events: row.events })),
    };
  },

  async lastWebhooks() {
    const { rows } = await pool.query<{ environment: Environment; received_at: Date }>(
      statements.lastWebhooks,
    );
    const last = new Map(rows.map((row) => [row.environment, row.received_at]));
    return { test: last.get('test') ?? null, live: last.get('live') ?? null };
  },
});

/** Counts a redelivery of an event the log already holds (the door's duplicate answer). */
export const recordWebhookRedelivery =
  (pool: pg.Pool) =>
  async (environment: Environment, eventId: string): Promise<void> => {
    await pool.query(statements.recordRedelivery, [environment, eventId]);
  };
