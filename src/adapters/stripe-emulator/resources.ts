import { type EmulatorStore, type RequestContext, type StripeRecord, stripeId } from './store.js';

/** A Stripe API error, answered as Stripe answers it: `{error: {type, code, message, param}}`. */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'idempotency_error' | 'api_error',
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

export type Params = Record<string, unknown>;

const missing = (param: string) =>
  new StripeApiError(
    400,
    'invalid_request_error',
    `Missing required param: ${param}.`,
    'parameter_missing',
    param,
  );

const invalid = (param: string, message: string) =>
  new StripeApiError(400, 'invalid_request_error', message, 'parameter_invalid', param);

export const resourceMissing = (type: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${type}: '${id}'`, 'resource_missing', param);

const text = (params: Params, name: string): string | null => {
  const value = params[name];
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw invalid(name, `Invalid string: ${name}`);
  return value;
};

const required = (params: Params, name: string): string => {
  const value = text(params, name);
  if (value === null) throw missing(name);
  return value;
};

const integer = (params: Params, name: string): number | null => {
  const value = text(params, name);
  if (value === null) return null;
  if (!/^-?\d+$/.test(value)) throw invalid(name, `Invalid integer: ${value}`);
  return Number(value);
};

const bool = (params: Params, name: string): boolean | null => {
  const value = text(params, name);
  if (value === null) return null;
  if (value !== 'true' && value !== 'false') throw invalid(name, `Invalid boolean: ${value}`);
  return value === 'true';
};

/** Metadata merges into what is there; an empty value removes a key (Stripe's rule). */
export const mergeMetadata = (current: unknown, given: unknown): Record<string, string> => {
  const merged: Record<string, string> = { ...((current as Record<string, string>) ?? {}) };
  if (given === '') return {};
  if (given && typeof given === 'object') {
    for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
      if (value === '') delete merged[key];
      else merged[key] = String(value);
    }
  }
  return merged;
};

/** Only the fields a request names change; every other field keeps its value. */
const named = (params: Params, fields: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).filter(([field]) => field in params));

export interface Resource {
  /** The object type, as in `object` and event types (`customer`, `product`…). */
  type: string;
  /** The path under `/v1/`. */
  path: string;
  create(params: Params, store: EmulatorStore, context: RequestContext): StripeRecord;
  update?(record: StripeRecord, params: Params, store: EmulatorStore): Record<string, unknown>;
  /** Deletable resources answer `{id, object, deleted: true}` and emit `<type>.deleted`. */
  deletable?: (record: StripeRecord, store: EmulatorStore) => void;
  /** Fields shown only in the response to the create call (a webhook endpoint's secret). */
  secretFields?: readonly string[];
  /** Whether changes emit events (webhook endpoints' do not). */
  emitsEvents: boolean;
}

export const customers: Resource = {
  type: 'customer',
  path: 'customers',
  emitsEvents: true,
  create: (params, store) => ({
    id: stripeId('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: store.now(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: text(params, 'description'),
    email: text(params, 'email'),
    invoice_prefix: stripeId('').slice(1, 9).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: mergeMetadata({}, params.metadata),
    name: text(params, 'name'),
    phone: text(params, 'phone'),
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  }),
  update: (record, params) => ({
    ...named(params, {
      email: text(params, 'email'),
      name: text(params, 'name'),
      description: text(params, 'description'),
      phone: text(params, 'phone'),
    }),
    ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
  }),
  deletable: () => undefined,
};

export const products: Resource = {
  type: 'product',
  path: 'products',
  emitsEvents: true,
  create: (params, store) => ({
    id: text(params, 'id') ?? stripeId('prod'),
    object: 'product',
    active: bool(params, 'active') ?? true,
    created: store.now(),
    default_price: null,
    description: text(params, 'description'),
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: mergeMetadata({}, params.metadata),
    name: required(params, 'name'),
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    unit_label: null,
    updated: store.now(),
    url: null,
  }),
  update: (record, params, store) => {
    const defaultPrice = text(params, 'default_price');
    if (defaultPrice && !store.get('price', defaultPrice))
      throw resourceMissing('price', defaultPrice, 'default_price');
    return {
      ...named(params, {
        name: text(params, 'name'),
        description: text(params, 'description'),
        active: bool(params, 'active'),
        default_price: defaultPrice,
      }),
      ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
      updated: store.now(),
    };
  },
  deletable: (record, store) => {
    const prices = [...store.collection('price').values()].some((price) => price.product === record.id);
    if (prices) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'This product cannot be deleted because it has one or more user-created prices.',
        'product_has_prices',
      );
    }
  },
};

const intervals = new Set(['day', 'week', 'month', 'year']);

export const prices: Resource = {
  type: 'price',
  path: 'prices',
  emitsEvents: true,
  create: (params, store) => {
    const product = required(params, 'product');
    if (!store.get('product', product)) throw resourceMissing('product', product, 'product');
    const recurring = params.recurring as Params | undefined;
    if (recurring && !intervals.has(String(recurring.interval))) {
      throw invalid(
        'recurring[interval]',
        'Invalid recurring[interval]: must be one of day, week, month, or year',
      );
    }
    return {
      id: stripeId('price'),
      object: 'price',
      active: bool(params, 'active') ?? true,
      billing_scheme: 'per_unit',
      created: store.now(),
      currency: required(params, 'currency').toLowerCase(),
      custom_unit_amount: null,
      livemode: false,
      lookup_key: text(params, 'lookup_key'),
      metadata: mergeMetadata({}, params.metadata),
      nickname: text(params, 'nickname'),
      product,
      recurring: recurring
        ? {
            interval: recurring.interval,
            interval_count: Number(recurring.interval_count ?? 1),
            meter: null,
            usage_type: 'licensed',
          }
        : null,
      tax_behavior: 'unspecified',
      tiers_mode: null,
      transform_quantity: null,
      type: recurring ? 'recurring' : 'one_time',
      unit_amount: integer(params, 'unit_amount'),
      unit_amount_decimal: text(params, 'unit_amount'),
    };
  },
  update: (record, params) => ({
    ...named(params, {
      active: bool(params, 'active'),
      nickname: text(params, 'nickname'),
      lookup_key: text(params, 'lookup_key'),
    }),
    ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
  }),
};

export const webhookEndpoints: Resource = {
  type: 'webhook_endpoint',
  path: 'webhook_endpoints',
  emitsEvents: false,
  secretFields: ['secret'],
  create: (params, store) => {
    const url = required(params, 'url');
    if (!URL.canParse(url)) throw invalid('url', `Invalid URL: ${url}`);
    const events = params.enabled_events;
    if (!Array.isArray(events) || events.length === 0) throw missing('enabled_events');
    return {
      id: stripeId('we'),
      object: 'webhook_endpoint',
      api_version: null,
      application: null,
      created: store.now(),
      description: text(params, 'description'),
      enabled_events: events.map(String),
      livemode: false,
      metadata: mergeMetadata({}, params.metadata),
      secret: `whsec_${stripeId('').slice(1)}`,
      status: 'enabled',
      url,
    };
  },
  update: (record, params) => ({
    ...named(params, { url: text(params, 'url'), description: text(params, 'description') }),
    ...(Array.isArray(params.enabled_events) ? { enabled_events: params.enabled_events.map(String) } : {}),
    ...('disabled' in params ? { status: bool(params, 'disabled') ? 'disabled' : 'enabled' } : {}),
    ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
  }),
  deletable: () => undefined,
};

const checkoutModes = new Set(['payment', 'subscription']);

/** `metadata` under a sub-object (`subscription_data[metadata][k]`), as a plain record. */
const nestedMetadata = (params: Params, name: string): Record<string, string> =>
  mergeMetadata({}, (params[name] as Params | undefined)?.metadata);

export const checkoutSessions: Resource = {
  type: 'checkout.session',
  path: 'checkout/sessions',
  emitsEvents: false,
  create: (params, store) => {
    const mode = required(params, 'mode');
    if (!checkoutModes.has(mode))
      throw invalid('mode', `Invalid mode: ${mode} (the emulator takes payment or subscription)`);
    const items = params.line_items;
    if (!Array.isArray(items) || items.length === 0) throw missing('line_items');
    const lineItems = items.map((item: Params, index) => {
      const priceId = text(item, 'price');
      if (!priceId) throw missing(`line_items[${index}][price]`);
      const price = store.get('price', priceId);
      if (!price) throw resourceMissing('price', priceId, `line_items[${index}][price]`);
      const recurring = price.type === 'recurring';
      if (recurring !== (mode === 'subscription')) {
        throw invalid(
          `line_items[${index}][price]`,
          mode === 'subscription'
            ? 'You must provide at least one recurring price in `subscription` mode when using prices.'
            : 'You specified `payment` mode but passed a recurring price.',
        );
      }
      const quantity = Number(item.quantity ?? 1);
      return {
        id: stripeId('li'),
        object: 'item',
        amount_discount: 0,
        amount_subtotal: (price.unit_amount as number) * quantity,
        amount_tax: 0,
        amount_total: (price.unit_amount as number) * quantity,
        currency: price.currency,
        description: (store.get('product', price.product as string)?.name as string | undefined) ?? null,
        price,
        quantity,
      };
    });
    const customer = text(params, 'customer');
    if (customer && !store.get('customer', customer)) throw resourceMissing('customer', customer, 'customer');
    const customerCreation = text(params, 'customer_creation');
    if (customerCreation && mode !== 'payment') {
      throw invalid('customer_creation', '`customer_creation` can only be used in `payment` mode.');
    }
    const id = stripeId('cs_test');
    const total = lineItems.reduce((sum, item) => sum + item.amount_total, 0);
    store.collection(checkoutSessionExtras).set(id, {
      id,
      object: checkoutSessionExtras,
      created: store.now(),
      line_items: lineItems,
      subscription_metadata: nestedMetadata(params, 'subscription_data'),
      payment_intent_metadata: nestedMetadata(params, 'payment_intent_data'),
    });
    return {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      cancel_url: text(params, 'cancel_url'),
      client_reference_id: text(params, 'client_reference_id'),
      created: store.now(),
      currency: lineItems[0]?.currency ?? null,
      customer,
      customer_creation: customerCreation ?? (mode === 'payment' && !customer ? 'if_required' : null),
      customer_details: null,
      customer_email: text(params, 'customer_email'),
      expires_at: store.now() + 24 * 60 * 60,
      livemode: false,
      metadata: mergeMetadata({}, params.metadata),
      mode,
      payment_intent: null,
      payment_status: 'unpaid',
      status: 'open',
      subscription: null,
      success_url: text(params, 'success_url'),
      url: `https://checkout.stripe.com/c/pay/${id}`,
    };
  },
};

/**
 * What a Checkout Session was created with but does not show: its line items (listed by
 * `/line_items`) and the metadata to copy onto the subscription or payment intent it will create.
 */
export const checkoutSessionExtras = 'checkout.session.extras';

export const billingPortalConfigurations: Resource = {
  type: 'billing_portal.configuration',
  path: 'billing_portal/configurations',
  emitsEvents: true,
  create: (params, store) => ({
    id: stripeId('bpc'),
    object: 'billing_portal.configuration',
    active: true,
    business_profile: (params.business_profile as Params | undefined) ?? { headline: null },
    created: store.now(),
    default_return_url: text(params, 'default_return_url'),
    features: (params.features as Params | undefined) ?? {},
    is_default: store.collection('billing_portal.configuration').size === 0,
    livemode: false,
    metadata: mergeMetadata({}, params.metadata),
    updated: store.now(),
  }),
  update: (record, params, store) => ({
    ...named(params, {
      active: bool(params, 'active'),
      default_return_url: text(params, 'default_return_url'),
    }),
    ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
    updated: store.now(),
  }),
};

export const billingPortalSessions: Resource = {
  type: 'billing_portal.session',
  path: 'billing_portal/sessions',
  emitsEvents: false,
  create: (params, store) => {
    const customer = required(params, 'customer');
    if (!store.get('customer', customer)) throw resourceMissing('customer', customer, 'customer');
    const configurationId = text(params, 'configuration');
    const configuration = configurationId
      ? store.get('billing_portal.configuration', configurationId)
      : [...store.collection('billing_portal.configuration').values()].find((c) => c.is_default);
    if (configurationId && !configuration) {
      throw resourceMissing('billing_portal.configuration', configurationId, 'configuration');
    }
    const id = stripeId('bps');
    return {
      id,
      object: 'billing_portal.session',
      configuration: configuration?.id ?? null,
      created: store.now(),
      customer,
      livemode: false,
      locale: null,
      on_behalf_of: null,
      return_url: text(params, 'return_url') ?? (configuration?.default_return_url as string | null) ?? null,
      url: `https://billing.stripe.com/p/session/test_${id.slice(4)}`,
    };
  },
};

export const resources: readonly Resource[] = [
  customers,
  products,
  prices,
  webhookEndpoints,
  checkoutSessions,
  billingPortalConfigurations,
  billingPortalSessions,
];
