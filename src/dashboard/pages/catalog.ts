import { callAdmin, query } from '../api.js';
import { dataTable, field, h, show } from '../dom.js';
import { formatMoney, parseMajorAmount, text, yesNo } from '../format.js';
import { actionButton, form, orShowError, type Page, type PageContext, section, value } from '../page.js';

type Row = Record<string, unknown>;
/** What the catalog routes answer: Stripe's object. */
interface StripeObject {
  id: string;
  object: string;
  active: boolean;
  name?: string;
}

interface Product extends Row {
  product_id: string;
  name: string | null;
  description: string | null;
  active: boolean | null;
  default_price_id: string | null;
  prices: Row[];
  /** payments.product_features rows: the features it grants. */
  features: Row[];
}

const priceLabel = (price: Row) =>
  `${formatMoney(price.unit_amount, price.currency)}${
    price.recurring_interval
      ? ` every ${Number(price.recurring_interval_count ?? 1) > 1 ? `${price.recurring_interval_count} ` : ''}${price.recurring_interval}`
      : ' once'
  }`;

interface Catalog {
  products: Product[];
  features: Row[];
  coupons: Array<Row & { promotion_codes: Row[] }>;
}

/** What a coupon takes off, for how long. */
const couponTerms = (coupon: Row) => {
  const off =
    coupon.percent_off != null
      ? `${String(coupon.percent_off)}% off`
      : `${formatMoney(coupon.amount_off, coupon.currency)} off`;
  const duration =
    coupon.duration === 'repeating'
      ? `for ${String(coupon.duration_in_months)} months`
      : text(coupon.duration);
  return `${off}, ${duration}`;
};

/** The catalog's features and coupons, read-only: Stripe's dashboard or API changes them. */
const featureAndCouponTables = (catalog: Catalog) => [
  dataTable(
    'Features',
    [
      { label: 'Lookup key', value: (row) => h('code', {}, String(row.lookup_key)) },
      { label: 'Name', value: (row) => text(row.name) },
      { label: 'Active', value: (row) => yesNo(row.active) },
    ],
    catalog.features,
    'No features: attach features to products in Stripe to grant them through entitlements.',
  ),
  dataTable(
    'Coupons',
    [
      { label: 'Coupon', value: (row) => h('code', {}, String(row.coupon_id)) },
      { label: 'Name', value: (row) => text(row.name) },
      { label: 'Terms', value: couponTerms },
      { label: 'Redeemed', value: (row) => text(row.times_redeemed), numeric: true },
      {
        label: 'Promotion codes',
        value: (row) =>
          row.promotion_codes
            .map((code) => `${String(code.code)}${code.active ? '' : ' (inactive)'}`)
            .join(', ') || '—',
      },
      { label: 'Valid', value: (row) => yesNo(row.valid) },
    ],
    catalog.coupons,
    'No coupons.',
  ),
];

/** A catalog change through the admin routes: done, or announced as failed. */
type Change = (method: 'POST' | 'PATCH', path: string, body: Row, done: string) => Promise<boolean>;

/** Whether the tables show Stripe's answer yet: the object, as active as it is, named as it is. */
const shows = (products: Product[], changed: StripeObject) => {
  const row =
    changed.object === 'price'
      ? products.flatMap((product) => product.prices).find((price) => price.price_id === changed.id)
      : products.find((product) => product.product_id === changed.id);
  return (
    row !== undefined &&
    row.active === changed.active &&
    (changed.name === undefined || row.name === changed.name)
  );
};

/**
 * Sends a change, says how it went, then reads the list again until it shows the change: the admin
 * route answers once Stripe has it, and the row follows as the projection catches up.
 */
const catalogChanges =
  (
    { environment, announce, left }: Pick<PageContext, 'environment' | 'announce' | 'left'>,
    load: () => Promise<Product[] | undefined>,
  ): Change =>
  async (method, path, body, done) => {
    const answer = await callAdmin<{ object: StripeObject }>(method, path, { environment, ...body });
    if (answer.error) {
      announce(answer.error.message, 'error');
      return false;
    }
    announce(`${done}: ${answer.data.object.id}.`);
    for (let attempt = 0; attempt < 60 && !left(); attempt += 1) {
      const products = await load();
      if (!products || shows(products, answer.data.object)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return true;
  };

const pricesTable = (product: Product, change: Change) =>
  dataTable(
    `Prices of ${product.name ?? product.product_id}`,
    [
      { label: 'Price', value: (price) => h('code', {}, String(price.price_id)) },
      { label: 'Amount', value: priceLabel, numeric: true },
      { label: 'Lookup key', value: (price) => text(price.lookup_key) },
      { label: 'Default', value: (price) => (price.price_id === product.default_price_id ? 'yes' : '') },
      { label: 'Active', value: (price) => yesNo(price.active) },
      {
        label: 'Actions',
        value: (price) =>
          price.active
            ? actionButton(
                'Archive price',
                async () => {
                  await change(
                    'POST',
                    `/api/admin/payments/prices/${encodeURIComponent(String(price.price_id))}/archive`,
                    {},
                    'Price archived',
                  );
                },
                { 'aria-label': `Archive price ${price.price_id}` },
              )
            : '',
      },
    ],
    product.prices,
    'No prices.',
  );

/** A product with its prices, and, while it is active, a form to edit or archive it. */
const productSection = (product: Product, change: Change) => {
  const name = product.name ?? product.product_id;
  const path = `/api/admin/payments/products/${encodeURIComponent(product.product_id)}`;
  const edit = form(
    `Edit ${name}`,
    [
      field('Name', h('input', { name: 'name', value: product.name ?? '', required: true })),
      field('Description', h('input', { name: 'description', value: product.description ?? '' })),
    ],
    'Save',
    async (values) => {
      await change(
        'PATCH',
        path,
        { name: value(values, 'name'), description: value(values, 'description') },
        'Product updated',
      );
    },
  );
  edit.classList.add('inline');
  return h(
    'article',
    { class: `product${product.active ? '' : ' archived'}` },
    h('h3', {}, name, product.active ? '' : ' (archived)'),
    h('p', {}, h('code', {}, product.product_id), ' ', text(product.description)),
    h(
      'p',
      { class: 'grants' },
      'Grants: ',
      product.features.length === 0
        ? 'no features'
        : product.features.map((feature, index) => [
            index > 0 ? ', ' : '',
            h('code', {}, String(feature.lookup_key)),
          ]),
    ),
    pricesTable(product, change),
    product.active
      ? h(
          'details',
          {},
          h('summary', {}, 'Edit or archive'),
          edit,
          actionButton(
            'Archive product',
            async () => {
              await change('POST', `${path}/archive`, {}, 'Product archived');
            },
            { 'aria-label': `Archive product ${name}` },
          ),
        )
      : null,
  );
};

const newProductForm = (change: Change) =>
  form(
    'New product',
    [
      field('Name', h('input', { name: 'name', required: true, maxlength: 250 })),
      field('Description', h('input', { name: 'description', maxlength: 1000 })),
    ],
    'Create product',
    async (values, element) => {
      const description = value(values, 'description');
      const created = await change(
        'POST',
        '/api/admin/payments/products',
        { name: value(values, 'name'), ...(description && { description }) },
        'Product created',
      );
      if (created) element.reset();
    },
  );

const newPriceForm = (
  productChoice: HTMLSelectElement,
  change: Change,
  announce: PageContext['announce'],
) => {
  const currency = h('input', {
    name: 'currency',
    required: true,
    value: 'usd',
    maxlength: 3,
    pattern: '[A-Za-z]{3}',
  });
  const interval = h(
    'select',
    { name: 'interval' },
    h('option', { value: '' }, 'One-time'),
    ['day', 'week', 'month', 'year'].map((each) => h('option', { value: each }, `Every ${each}`)),
  );
  return form(
    'New price',
    [
      field('Product', productChoice),
      field('Currency', currency, 'Three letters: usd, eur, jpy…'),
      field(
        'Amount',
        h('input', { name: 'amount', required: true, inputmode: 'decimal' }),
        'In the currency’s units: 20.00 USD, 500 JPY.',
      ),
      field('Billing', interval),
      field('Lookup key', h('input', { name: 'lookupKey', maxlength: 200 })),
    ],
    'Create price',
    async (values, element) => {
      const code = value(values, 'currency').toLowerCase();
      const unitAmount = parseMajorAmount(value(values, 'amount'), code);
      if (unitAmount === null) return announce(`That is not an amount in ${code.toUpperCase()}.`, 'error');
      const lookupKey = value(values, 'lookupKey');
      const every = value(values, 'interval');
      const created = await change(
        'POST',
        '/api/admin/payments/prices',
        {
          product: value(values, 'product'),
          currency: code,
          unitAmount,
          ...(every && { interval: every }),
          ...(lookupKey && { lookupKey }),
        },
        'Price created',
      );
      if (created) element.reset();
    },
  );
};

/**
 * Products and prices with create, update and archive. Every change goes to Stripe first (the
 * admin routes), then into the log; the tables follow as the projection catches up.
 */
export const catalogPage: Page = async (context) => {
  const { environment, root, announce, left } = context;
  const list = h('div', {});
  const others = h('div', {});
  const productChoice = h('select', { name: 'product', required: true });
  const load = async (): Promise<Product[] | undefined> => {
    const answer = orShowError(
      await callAdmin<Catalog>('GET', `/api/admin/payments/catalog${query({ environment })}`),
      list,
    );
    if (!answer || left()) return undefined;
    show(
      productChoice,
      answer.products
        .filter((product) => product.active)
        .map((product) =>
          h('option', { value: product.product_id }, `${product.name ?? product.product_id}`),
        ),
    );
    show(
      list,
      answer.products.length === 0
        ? h('p', {}, 'No products yet.')
        : answer.products.map((product) => productSection(product, change)),
    );
    show(others, ...featureAndCouponTables(answer));
    return answer.products;
  };
  const change = catalogChanges(context, load);
  show(
    root,
    section('Products', list),
    others,
    section('New product', newProductForm(change)),
    section('New price', newPriceForm(productChoice, change, announce)),
  );
  await load();
};
