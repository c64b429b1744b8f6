import { callAdmin, query } from '../api.js';
import { dataTable, field, h, show } from '../dom.js';
import { formatMoney, formatTime, httpsUrl, text, yesNo } from '../format.js';
import { form, orShowError, type Page, type PageContext, pageLink, section, value } from '../page.js';

type Row = Record<string, unknown>;

interface Overview {
  customers: Row[];
  customerMappings: Row[];
  subscriptions: Array<Row & { items: Row[] }>;
  invoices: Row[];
  paymentHistory: Row[];
  refunds: Row[];
  disputes: Row[];
  checkoutSessions: Row[];
  paymentMethods: Row[];
  setupIntents: Row[];
  entitlements: Row[];
  taxIds: Row[];
  earlyFraudWarnings: Row[];
  creditNotes: Row[];
  discounts: Row[];
  subscriptionSchedules: Row[];
}

const subjectOf = (row: Row) =>
  row.subject_type && row.subject_id ? `${row.subject_type}:${row.subject_id}` : null;

const subjectLink = (context: Pick<PageContext, 'environment'>, row: Row) => {
  const subject = subjectOf(row);
  return subject
    ? pageLink(
        context.environment,
        `subjects/${encodeURIComponent(String(row.subject_type))}/${encodeURIComponent(String(row.subject_id))}`,
        subject,
      )
    : '—';
};

const customerLink = (context: Pick<PageContext, 'environment'>, customerId: unknown) =>
  typeof customerId === 'string'
    ? pageLink(context.environment, `customers/${encodeURIComponent(customerId)}`, h('code', {}, customerId))
    : '—';

const code = (value: unknown) => (value ? h('code', {}, String(value)) : '—');

/** Search by subject (`team:acme`), email or Stripe customer id; a customer id opens its page. */
export const customersPage: Page = async (context) => {
  const { environment, params, root } = context;
  if (params[0]) return overviewPage(context, { customerId: params[0] });
  const results = h('div', { 'aria-live': 'polite' });
  const search = h('input', { name: 'search', type: 'search', autocomplete: 'off' });
  const run = async (terms: string) => {
    const answer = orShowError(
      await callAdmin<{ customers: Row[] }>(
        'GET',
        `/api/admin/payments/customers${query({ environment, search: terms })}`,
      ),
      results,
    );
    if (!answer || context.left()) return;
    const subject = /^[^:\s]+:\S+$/.test(terms) ? terms.split(':') : null;
    show(
      results,
      subject &&
        h(
          'p',
          {},
          pageLink(
            environment,
            `subjects/${encodeURIComponent(subject[0] as string)}/${encodeURIComponent(subject.slice(1).join(':'))}`,
            `Open the page of subject ${terms}`,
          ),
        ),
      dataTable(
        terms ? `Customers matching “${terms}”` : 'Newest customers',
        [
          { label: 'Customer', value: (row) => customerLink(context, row.customer_id) },
          { label: 'Email', value: (row) => text(row.email) },
          { label: 'Name', value: (row) => text(row.name) },
          { label: 'Subject', value: (row) => subjectLink(context, row) },
          { label: 'Deleted', value: (row) => yesNo(row.deleted) },
        ],
        answer.customers,
        'No customer matches.',
      ),
    );
  };
  const searchForm = form(
    'Search customers',
    [field('Subject, email or Stripe customer id', search, 'A subject is written type:id, as team:acme.')],
    'Search',
    async (values) => run(value(values, 'search')),
  );
  searchForm.setAttribute('role', 'search');
  show(root, searchForm, results);
  await run('');
};

/** The page of a subject (`#/test/subjects/team/acme`). */
export const subjectPage: Page = async (context) => {
  const [type, ...id] = context.params;
  if (!type || id.length === 0) return customersPage({ ...context, params: [] });
  return overviewPage(context, { subject: { type, id: id.join('/') } });
};

const money = (amountColumn: string) => (row: Row) => formatMoney(row[amountColumn], row.currency);

/** The customers of an overview and the mapping of its subject, with links to their own pages. */
const customerTables = (context: PageContext, overview: Overview) => [
  dataTable(
    'Customer mapping',
    [
      { label: 'Subject', value: (row) => subjectLink(context, row) },
      { label: 'Customer', value: (row) => customerLink(context, row.customer_id) },
      { label: 'Mapped', value: (row) => formatTime(row.created_at) },
    ],
    overview.customerMappings,
    'No mapping: Payfold pairs a subject with the first customer seen for it.',
  ),
  dataTable(
    'Customers',
    [
      { label: 'Customer', value: (row) => customerLink(context, row.customer_id) },
      { label: 'Email', value: (row) => text(row.email) },
      { label: 'Name', value: (row) => text(row.name) },
      { label: 'Subject', value: (row) => subjectLink(context, row) },
      { label: 'Deleted', value: (row) => yesNo(row.deleted) },
    ],
    overview.customers,
  ),
  dataTable(
    'Tax ids',
    [
      { label: 'Tax id', value: (row) => code(row.value) },
      { label: 'Type', value: (row) => text(row.type) },
      { label: 'Country', value: (row) => text(row.country) },
      { label: 'Verification', value: (row) => text(row.verification_status) },
      { label: 'Customer', value: (row) => customerLink(context, row.customer_id) },
      { label: 'Deleted', value: (row) => yesNo(row.deleted) },
    ],
    overview.taxIds,
  ),
];

/** Each subscription with its period, its state and its items. */
const subscriptionsSection = (overview: Overview) =>
  section(
    'Subscriptions',
    overview.subscriptions.length === 0
      ? h('p', {}, 'None.')
      : overview.subscriptions.map((subscription) =>
          h(
            'article',
            { class: 'subscription' },
            h(
              'h3',
              {},
              code(subscription.subscription_id),
              ' ',
              h('span', { class: `state ${String(subscription.status)}` }, text(subscription.status)),
            ),
            h(
              'p',
              {},
              'Period ',
              formatTime(subscription.current_period_start),
              ' to ',
              formatTime(subscription.current_period_end),
              subscription.cancel_at_period_end ? '; cancels at period end' : '',
              subscription.ended_at ? ['; ended ', formatTime(subscription.ended_at)] : '',
            ),
            dataTable(
              'Items',
              [
                { label: 'Item', value: (row) => code(row.subscription_item_id) },
                { label: 'Price', value: (row) => code(row.price_id) },
                { label: 'Product', value: (row) => code(row.product_id) },
                { label: 'Quantity', value: (row) => text(row.quantity), numeric: true },
              ],
              subscription.items,
            ),
          ),
        ),
  );

/** What the subject may use now: its customers' active entitlements (Stripe Entitlements). */
const entitlementsTable = (context: PageContext, overview: Overview) =>
  dataTable(
    'Entitlements',
    [
      { label: 'Feature', value: (row) => code(row.lookup_key) },
      { label: 'Name', value: (row) => text(row.feature_name) },
      { label: 'Customer', value: (row) => customerLink(context, row.customer_id) },
      { label: 'Since', value: (row) => formatTime(row.created_at) },
    ],
    overview.entitlements,
    'None: no active subscription grants a feature.',
  );

/** The coupons applied to the subject's customers and subscriptions, with their terms. */
const discountsTable = (overview: Overview) =>
  dataTable(
    'Discounts',
    [
      { label: 'Coupon', value: (row) => code(row.coupon_id) },
      {
        label: 'Off',
        value: (row) =>
          row.percent_off != null ? `${String(row.percent_off)}%` : formatMoney(row.amount_off, row.currency),
      },
      { label: 'Duration', value: (row) => text(row.duration) },
      { label: 'Subscription', value: (row) => code(row.subscription_id) },
      { label: 'Promotion code', value: (row) => code(row.promotion_code_id) },
      { label: 'Ends', value: (row) => formatTime(row.end_at) },
      { label: 'Removed', value: (row) => yesNo(row.deleted) },
    ],
    overview.discounts,
  );

const sameTime = (a: unknown, b: unknown) =>
  typeof a === 'string' && typeof b === 'string' && new Date(a).getTime() === new Date(b).getTime();

/** Each schedule's phases, the current one marked. */
const schedulesTable = (overview: Overview) =>
  dataTable(
    'Subscription schedules',
    [
      { label: 'Schedule', value: (row) => code(row.subscription_schedule_id) },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Subscription', value: (row) => code(row.subscription_id ?? row.released_subscription_id) },
      {
        label: 'Phases',
        value: (row) =>
          h(
            'ul',
            {},
            (Array.isArray(row.phases) ? (row.phases as Row[]) : []).map((phase) =>
              h(
                'li',
                {},
                formatTime(phase.start),
                `: ${(phase.items as Row[]).map((item) => `${String(item.quantity ?? 1)} × ${String(item.price_id)}`).join(', ')}`,
                sameTime(phase.start, row.current_phase_start) ? ' (current)' : '',
              ),
            ),
          ),
      },
      { label: 'Current phase ends', value: (row) => formatTime(row.current_phase_end) },
    ],
    overview.subscriptionSchedules,
  );

/** The cards on file, which one renewals charge and when it expires; cards saved without a payment. */
const paymentMethodTables = (overview: Overview) => [
  dataTable(
    'Payment methods',
    [
      { label: 'Payment method', value: (row) => code(row.payment_method_id) },
      {
        label: 'Card',
        value: (row) =>
          row.card_brand ? `${String(row.card_brand)} •••• ${String(row.card_last4)}` : text(row.type),
      },
      {
        label: 'Expires',
        value: (row) =>
          row.card_exp_month
            ? `${String(row.card_exp_month).padStart(2, '0')}/${String(row.card_exp_year)}`
            : '—',
      },
      { label: 'Wallet', value: (row) => text(row.wallet) },
      {
        label: 'Renewals charge it',
        value: (row) => {
          const subscriptions = Array.isArray(row.subscription_defaults) ? row.subscription_defaults : [];
          if (subscriptions.length > 0) return `default of ${subscriptions.join(', ')}`;
          return row.customer_default ? 'customer default' : 'no';
        },
      },
      { label: 'Attached', value: (row) => yesNo(row.attached) },
    ],
    overview.paymentMethods,
  ),
  dataTable(
    'Setup intents',
    [
      { label: 'Setup intent', value: (row) => code(row.setup_intent_id) },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Usage', value: (row) => text(row.usage) },
      { label: 'Payment method', value: (row) => code(row.payment_method_id) },
      { label: 'Last error', value: (row) => text(row.last_error_message) },
      { label: 'Created', value: (row) => formatTime(row.created_at) },
    ],
    overview.setupIntents,
  ),
];

/** Invoices, payments, refunds, disputes and checkout sessions. */
const moneyTables = (overview: Overview) => [
  dataTable(
    'Invoices',
    [
      { label: 'Invoice', value: (row) => code(row.invoice_id) },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Due', value: money('amount_due'), numeric: true },
      { label: 'Paid', value: money('amount_paid'), numeric: true },
      { label: 'Discounted', value: money('amount_discounted'), numeric: true },
      { label: 'Credited', value: money('amount_credited'), numeric: true },
      { label: 'Paid at', value: (row) => formatTime(row.paid_at) },
      {
        label: 'Hosted page',
        value: (row) => {
          const href = httpsUrl(row.hosted_invoice_url);
          return href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, 'Open') : '—';
        },
      },
    ],
    overview.invoices,
  ),
  dataTable(
    'Credit notes',
    [
      { label: 'Credit note', value: (row) => code(row.credit_note_id) },
      { label: 'Invoice', value: (row) => code(row.invoice_id) },
      { label: 'Amount', value: money('amount'), numeric: true },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Reason', value: (row) => text(row.reason) },
      { label: 'Out of band', value: money('out_of_band_amount'), numeric: true },
    ],
    overview.creditNotes,
  ),
  dataTable(
    'Payment history',
    [
      { label: 'Payment', value: (row) => code(row.payment_intent_id ?? row.charge_id) },
      { label: 'Type', value: (row) => text(row.type) },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Amount', value: money('amount'), numeric: true },
      { label: 'Refunded', value: money('amount_refunded'), numeric: true },
      { label: 'Paid at', value: (row) => formatTime(row.paid_at) },
      { label: 'Failed at', value: (row) => formatTime(row.failed_at) },
    ],
    overview.paymentHistory,
  ),
  dataTable(
    'Refunds',
    [
      { label: 'Refund', value: (row) => code(row.refund_id) },
      { label: 'Payment', value: (row) => code(row.payment_intent_id ?? row.charge_id) },
      { label: 'Amount', value: money('amount'), numeric: true },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Reason', value: (row) => text(row.reason) },
    ],
    overview.refunds,
  ),
  dataTable(
    'Disputes',
    [
      { label: 'Dispute', value: (row) => code(row.dispute_id) },
      { label: 'Payment', value: (row) => code(row.payment_intent_id ?? row.charge_id) },
      { label: 'Amount', value: money('amount'), numeric: true },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Reason', value: (row) => text(row.reason) },
    ],
    overview.disputes,
  ),
  dataTable(
    'Early fraud warnings',
    [
      { label: 'Warning', value: (row) => code(row.early_fraud_warning_id) },
      { label: 'Payment', value: (row) => code(row.payment_intent_id ?? row.charge_id) },
      { label: 'Fraud type', value: (row) => text(row.fraud_type) },
      { label: 'Actionable', value: (row) => yesNo(row.actionable) },
      { label: 'Warned', value: (row) => formatTime(row.created_at) },
    ],
    overview.earlyFraudWarnings,
  ),
  dataTable(
    'Checkout sessions',
    [
      { label: 'Session', value: (row) => code(row.checkout_session_id ?? row.id) },
      { label: 'Mode', value: (row) => text(row.mode) },
      { label: 'Status', value: (row) => text(row.status) },
      { label: 'Payment status', value: (row) => text(row.payment_status) },
      { label: 'Created', value: (row) => formatTime(row.created_at) },
    ],
    overview.checkoutSessions,
  ),
];

const overviewPage = async (
  context: PageContext,
  of: { customerId: string } | { subject: { type: string; id: string } },
) => {
  const { environment, root } = context;
  const path =
    'customerId' in of
      ? `/api/admin/payments/customers/${encodeURIComponent(of.customerId)}`
      : `/api/admin/payments/subjects/${encodeURIComponent(of.subject.type)}/${encodeURIComponent(of.subject.id)}`;
  const answer = orShowError(
    await callAdmin<{ overview: Overview }>('GET', `${path}${query({ environment })}`),
    root,
  );
  if (!answer || context.left()) return;
  const overview = answer.overview;
  const title =
    'customerId' in of ? `Customer ${of.customerId}` : `Subject ${of.subject.type}:${of.subject.id}`;
  const nothing =
    Object.values(overview).every((rows) => rows.length === 0) &&
    h('p', { class: 'warning' }, `The tables hold nothing for ${title.toLowerCase()} in ${environment}.`);
  show(
    root,
    h('h2', { class: 'subject-title' }, title),
    nothing,
    ...customerTables(context, overview),
    subscriptionsSection(overview),
    entitlementsTable(context, overview),
    discountsTable(overview),
    schedulesTable(overview),
    ...paymentMethodTables(overview),
    ...moneyTables(overview),
  );
};
