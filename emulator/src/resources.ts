import type Stripe from 'stripe';
import { knownApiVersion } from './api-version.js';
import { discountInputs } from './discounts.js';
import {
  bool,
  fieldFilter,
  integer,
  invalid,
  mergeMetadata,
  missing,
  named,
  type Params,
  required,
  resourceMissing,
  StripeApiError,
  text,
} from './params.js';
import { attachPaymentMethod, paymentMethodOf } from './payment-methods.js';
import { attachProductFeature, productFeaturesOf } from './product-features.js';
import {
  type Act,
  type EmulatorStore,
  type ObjectType,
  referencedId,
  type StoredObjects,
  type StripeRecord,
  stripeId,
  testClockType,
  wireDecimal,
} from './store.js';
import { addTaxId, deleteTaxId, ownerCustomer, taxIdsOfCustomer } from './tax-ids.js';

/**
 * What a Checkout Session was created with but does not show: its line items (listed by
 * `/line_items`) and the metadata to copy onto the subscription or payment intent it will create.
 */
export const checkoutSessionExtras = 'checkout.session.extras' as const;

/** A resource as the routes see it: every object alike. */
export interface Resource {
  /** The object type, as in `object` and event types (`customer`, `product`…). */
  type: string;
  /** The path under `/v1/`. */
  path: string;
  create?(params: Params, act: Act): StripeRecord;
  update?(record: StripeRecord, params: Params, act: Act): StripeRecord;
  /** What `DELETE` answers (`{id, object, deleted: true}` for most, the canceled object for some). */
  remove?(record: StripeRecord, params: Params, act: Act): Record<string, unknown>;
  /** `POST /v1/<path>/:id/<action>` (`expire`, `cancel`, `pay`…). */
  actions?: Record<string, (record: StripeRecord, params: Params, act: Act) => StripeRecord>;
  /** `GET /v1/<path>/:id/<name>`: lists inside an object (a session's `line_items`, an invoice's `lines`). */
  lists?: Record<string, (record: StripeRecord, store: EmulatorStore) => StripeRecord[]>;
  /** The list filters the resource takes besides `created` (`customer`, `status`…). */
  matches?(record: StripeRecord, params: Params, store: EmulatorStore): boolean;
  /** Fields shown only in the response to the create call (a webhook endpoint's secret). */
  secretFields?: readonly string[];
  /** Whether a deleted object still answers retrieval, with `{id, object, deleted: true}`. */
  answersWhenDeleted?: boolean;
  /** The fields `GET /v1/<path>/search` may query, as Stripe lists them for the resource. */
  searchFields?: readonly string[];
}

/** A resource whose handlers take and give its object's own Stripe type. */
export interface TypedResource<T extends ObjectType> {
  type: T;
  path: string;
  create?(params: Params, act: Act): StoredObjects[T];
  update?(record: StoredObjects[T], params: Params, act: Act): StoredObjects[T];
  remove?(record: StoredObjects[T], params: Params, act: Act): object;
  actions?: Record<string, (record: StoredObjects[T], params: Params, act: Act) => object>;
  lists?: Record<string, (record: StoredObjects[T], store: EmulatorStore) => object[]>;
  matches?(record: StoredObjects[T], params: Params, store: EmulatorStore): boolean;
  secretFields?: readonly string[];
  answersWhenDeleted?: boolean;
  searchFields?: readonly string[];
}

/**
 * Typed handlers behind the routes' one shape: the one place a stored object loses its type.
 * `searchFields` may come apart from a definition made by `plainResource`.
 */
export const resource = <T extends ObjectType>(
  definition: TypedResource<T>,
  searchFields?: readonly string[],
): Resource => ({ ...definition, ...(searchFields && { searchFields }) }) as unknown as Resource;

/**
 * A resource whose changes are one store operation each: created with `build`, updated with the
 * `changes` a request makes, deleted when `deletable` allows, emitting `<type>.created|updated|deleted`
 * unless it is a type Stripe emits no events for.
 */
const plainResource = <T extends ObjectType>(definition: {
  type: T;
  path: string;
  emitsEvents: boolean;
  build(params: Params, store: EmulatorStore): StoredObjects[T];
  changes?(record: StoredObjects[T], params: Params, store: EmulatorStore): Partial<StoredObjects[T]>;
  deletable?(record: StoredObjects[T], store: EmulatorStore): void;
}): TypedResource<T> => {
  const { type, emitsEvents, changes, deletable } = definition;
  const eventType = (change: string) => (emitsEvents ? `${type}.${change}` : null);
  return {
    type,
    path: definition.path,
    create: (params, { store, context }) =>
      store.create(type, definition.build(params, store), eventType('created'), context),
    ...(changes
      ? {
          update: (record: StoredObjects[T], params: Params, { store, context }: Act) =>
            store.update(type, record.id, changes(record, params, store), eventType('updated'), context),
        }
      : {}),
    ...(deletable
      ? {
          remove: (record: StoredObjects[T], _params: Params, { store, context }: Act) => {
            deletable(record, store);
            store.remove(type, record.id, eventType('deleted'), context);
            return { id: record.id, object: type, deleted: true };
          },
        }
      : {}),
  };
};

/** A new customer from the customers API's parameters (also the customer Checkout creates). */
export const customerRecord = (
  params: Params,
  store: EmulatorStore,
  defaultPaymentMethod: string | null = null,
): Stripe.Customer => {
  const testClock = text(params, 'test_clock');
  if (testClock && !store.get(testClockType, testClock))
    throw resourceMissing(testClockType, testClock, 'test_clock');
  return {
    id: store.id('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: (testClock ? store.get(testClockType, testClock)?.frozen_time : undefined) ?? store.now(),
    currency: null,
    default_source: null,
    delinquent: false,
    discount: null,
    description: text(params, 'description'),
    email: text(params, 'email'),
    invoice_prefix: store.id('').slice(1, 9).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: defaultPaymentMethod,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: mergeMetadata({}, params.metadata),
    name: text(params, 'name'),
    next_invoice_sequence: 1,
    phone: text(params, 'phone'),
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: testClock,
  };
};

/**
 * A customer's payment methods as a request names them: `payment_method` (attached) and
 * `invoice_settings[default_payment_method]`; the attached one is also the default when no other
 * is named (the emulator's shortcut: Stripe would leave the default unset). Test cards
 * (`pm_card_visa`) become payment methods of their own, as in Stripe.
 */
const customerPaymentMethods = (params: Params, act: Act) => {
  const given = text(params, 'payment_method');
  const attached = given ? paymentMethodOf(act, given, 'payment_method') : null;
  const settings = (params.invoice_settings as Params | undefined) ?? {};
  const named = text(settings, 'default_payment_method');
  const defaultMethod =
    named === null || named === given
      ? attached
      : paymentMethodOf(act, named, 'invoice_settings[default_payment_method]');
  return { attached, defaultMethod, defaultNamed: 'default_payment_method' in settings };
};

const customerChanges = (record: Stripe.Customer, params: Params): Partial<Stripe.Customer> => ({
  ...named(params, {
    email: text(params, 'email'),
    name: text(params, 'name'),
    description: text(params, 'description'),
    phone: text(params, 'phone'),
  }),
  ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
});

export const customers = resource({
  type: 'customer',
  path: 'customers',
  // Created, then its payment methods attached (`customer.created`, `payment_method.attached`).
  create: (params, act) => {
    const { attached, defaultMethod } = customerPaymentMethods(params, act);
    const customer = act.store.create(
      'customer',
      customerRecord(params, act.store, defaultMethod?.id ?? null),
      'customer.created',
      act.context,
    );
    for (const method of new Set([attached, defaultMethod])) {
      if (method) attachPaymentMethod(act, method, customer.id);
    }
    return act.store.get('customer', customer.id) ?? customer;
  },
  update: (record, params, act) => {
    const { attached, defaultMethod, defaultNamed } = customerPaymentMethods(params, act);
    for (const method of new Set([attached, defaultMethod])) {
      if (method) attachPaymentMethod(act, method, record.id);
    }
    const invoiceSettings = defaultNamed
      ? {
          invoice_settings: { ...record.invoice_settings, default_payment_method: defaultMethod?.id ?? null },
        }
      : {};
    return act.store.update(
      'customer',
      record.id,
      { ...customerChanges(record, params), ...invoiceSettings },
      'customer.updated',
      act.context,
    );
  },
  remove: (record, _params, { store, context }) => {
    store.remove('customer', record.id, 'customer.deleted', context);
    return { id: record.id, object: 'customer', deleted: true };
  },
  actions: { tax_ids: (customer, params, act) => addTaxId(act, customer, params) },
  lists: {
    tax_ids: (customer, store) => taxIdsOfCustomer(store, customer),
    payment_methods: (customer, store) =>
      store
        .all('payment_method')
        .filter((paymentMethod) => paymentMethod.customer === customer.id)
        .reverse(),
  },
  answersWhenDeleted: true,
  matches: fieldFilter('email', 'test_clock'),
  searchFields: ['created', 'email', 'metadata', 'name', 'phone'],
});

export const products = resource(
  {
    ...plainResource({
      type: 'product',
      path: 'products',
      emitsEvents: true,
      build: (params, store) => ({
        id: text(params, 'id') ?? store.id('prod'),
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
        tax_details: null,
        type: 'service',
        unit_label: null,
        updated: store.now(),
        url: null,
      }),
      changes: (record, params, store) => {
        const defaultPrice = text(params, 'default_price');
        if (defaultPrice && !store.get('price', defaultPrice))
          throw resourceMissing('price', defaultPrice, 'default_price');
        return {
          ...named(params, {
            name: text(params, 'name') ?? undefined,
            description: text(params, 'description'),
            active: bool(params, 'active') ?? undefined,
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
    }),
    actions: { features: (product, params, { store }) => attachProductFeature(store, product, params) },
    lists: { features: (product, store) => productFeaturesOf(store, product) },
  },
  ['active', 'description', 'metadata', 'name', 'shippable', 'url'],
);

const intervals = new Set(['day', 'week', 'month', 'year']);
const isInterval = (value: unknown): value is Stripe.Price.Recurring.Interval => intervals.has(String(value));

const taxBehaviors = new Set(['exclusive', 'inclusive', 'unspecified']);
/** A price's `tax_behavior`: one of Stripe's three, `unspecified` when not given. */
const taxBehavior = (params: Params): Stripe.Price.TaxBehavior => {
  const given = text(params, 'tax_behavior') ?? 'unspecified';
  if (!taxBehaviors.has(given))
    throw invalid(
      'tax_behavior',
      `Invalid tax_behavior: must be one of exclusive, inclusive, or unspecified`,
    );
  return given as Stripe.Price.TaxBehavior;
};

export const prices = resource(
  {
    ...plainResource({
      type: 'price',
      path: 'prices',
      emitsEvents: true,
      build: (params, store) => {
        const product = required(params, 'product');
        if (!store.get('product', product)) throw resourceMissing('product', product, 'product');
        const recurring = params.recurring as Params | undefined;
        const unitAmount = integer(params, 'unit_amount');
        if (recurring && !isInterval(recurring.interval)) {
          throw invalid(
            'recurring[interval]',
            'Invalid recurring[interval]: must be one of day, week, month, or year',
          );
        }
        return {
          id: store.id('price'),
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
          recurring:
            recurring && isInterval(recurring.interval)
              ? {
                  interval: recurring.interval,
                  interval_count: Number(recurring.interval_count ?? 1),
                  meter: null,
                  trial_period_days: null,
                  usage_type: 'licensed',
                }
              : null,
          tax_behavior: taxBehavior(params),
          tiers_mode: null,
          transform_quantity: null,
          type: recurring ? 'recurring' : 'one_time',
          unit_amount: unitAmount,
          unit_amount_decimal: unitAmount === null ? null : wireDecimal(String(unitAmount)),
        };
      },
      changes: (record, params) => ({
        ...named(params, {
          active: bool(params, 'active') ?? undefined,
          nickname: text(params, 'nickname'),
          lookup_key: text(params, 'lookup_key'),
        }),
        ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
      }),
    }),
    // Stripe's list filters: `lookup_keys[]` any of, the others equal.
    matches: (price, params) =>
      fieldFilter('active', 'currency', 'product', 'type')(price, params) &&
      (params.lookup_keys === undefined ||
        ([] as unknown[]).concat(params.lookup_keys).map(String).includes(String(price.lookup_key))),
  },
  ['active', 'currency', 'lookup_key', 'metadata', 'product', 'type'],
);

export const webhookEndpoints = resource({
  ...plainResource({
    type: 'webhook_endpoint',
    path: 'webhook_endpoints',
    emitsEvents: false,
    build: (params, store) => {
      const url = required(params, 'url');
      if (!URL.canParse(url)) throw invalid('url', `Invalid URL: ${url}`);
      const events = params.enabled_events;
      if (!Array.isArray(events) || events.length === 0) throw missing('enabled_events');
      return {
        id: store.id('we'),
        object: 'webhook_endpoint',
        // Events sent to it say this version in their envelope (their objects stay in the emulator's).
        api_version:
          params.api_version === undefined
            ? null
            : knownApiVersion(String(params.api_version), 'api_version'),
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
    changes: (record, params) => ({
      ...named(params, { url: text(params, 'url') ?? undefined, description: text(params, 'description') }),
      ...(Array.isArray(params.enabled_events) ? { enabled_events: params.enabled_events.map(String) } : {}),
      ...('disabled' in params ? { status: bool(params, 'disabled') ? 'disabled' : 'enabled' } : {}),
      ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
    }),
    deletable: () => undefined,
  }),
  secretFields: ['secret'],
});

const checkoutModes = new Set(['payment', 'subscription']);

/** `metadata` under a sub-object (`subscription_data[metadata][k]`), as a plain record. */
const nestedMetadata = (params: Params, name: string): Record<string, string> =>
  mergeMetadata({}, (params[name] as Params | undefined)?.metadata);

export const checkoutSessions = resource({
  ...plainResource({
    type: 'checkout.session',
    path: 'checkout/sessions',
    emitsEvents: false,
    build: (params, store) => {
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
          id: store.id('li'),
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
      if (customer && !store.get('customer', customer))
        throw resourceMissing('customer', customer, 'customer');
      const customerCreation = text(params, 'customer_creation');
      if (customerCreation && mode !== 'payment') {
        throw invalid('customer_creation', '`customer_creation` can only be used in `payment` mode.');
      }
      const id = store.id('cs_test');
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
        adaptive_pricing: { enabled: false },
        after_expiration: null,
        allowed_payment_method_types: null,
        allow_promotion_codes: null,
        automatic_tax: { enabled: false, liability: null, provider: null, status: null },
        billing_address_collection: null,
        cancel_url: text(params, 'cancel_url'),
        client_reference_id: text(params, 'client_reference_id'),
        client_secret: null,
        collected_information: null,
        consent: null,
        consent_collection: null,
        currency_conversion: null,
        custom_fields: [],
        custom_text: {
          after_submit: null,
          shipping_address: null,
          submit: null,
          terms_of_service_acceptance: null,
        },
        created: store.now(),
        currency: lineItems[0]?.currency ?? null,
        customer,
        customer_creation: customerCreation ?? (mode === 'payment' && !customer ? 'if_required' : null),
        customer_details: null,
        customer_account: null,
        customer_email: text(params, 'customer_email'),
        discounts: sessionDiscounts(store, mode, params),
        expires_at: store.now() + 24 * 60 * 60,
        integration_identifier: null,
        invoice: null,
        invoice_creation:
          mode === 'payment'
            ? {
                enabled: false,
                invoice_data: {
                  account_tax_ids: null,
                  custom_fields: null,
                  description: null,
                  footer: null,
                  issuer: null,
                  metadata: {},
                  rendering_options: null,
                },
              }
            : null,
        livemode: false,
        locale: null,
        managed_payments: null,
        metadata: mergeMetadata({}, params.metadata),
        mode,
        origin_context: null,
        payment_intent: null,
        payment_link: null,
        payment_method_collection: mode === 'subscription' ? 'always' : null,
        payment_method_configuration_details: null,
        payment_method_options: { card: { request_three_d_secure: 'automatic' } },
        payment_method_types: ['card'],
        payment_status: 'unpaid',
        permissions: null,
        phone_number_collection: { enabled: false },
        recovered_from: null,
        saved_payment_method_options: null,
        setup_intent: null,
        shipping_address_collection: null,
        shipping_cost: null,
        shipping_options: [],
        status: 'open',
        submit_type: null,
        subscription: null,
        success_url: text(params, 'success_url'),
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
        ui_mode: 'hosted_page',
        url: `https://checkout.stripe.com/c/pay/${id}`,
        wallet_options: null,
      };
    },
  }),
  actions: {
    expire: (session, _params, { store, context }) => {
      if (session.status !== 'open') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
          'checkout_session_not_open',
        );
      }
      return store.update(
        'checkout.session',
        session.id,
        { status: 'expired', url: null },
        'checkout.session.expired',
        context,
      );
    },
  },
  lists: {
    line_items: (session, store) => store.get(checkoutSessionExtras, session.id)?.line_items ?? [],
  },
  matches: fieldFilter('customer', 'payment_intent', 'subscription', 'status'),
});

const portalBusinessProfile = (given: Params): Stripe.BillingPortal.Configuration.BusinessProfile => ({
  headline: text(given, 'headline'),
  privacy_policy_url: text(given, 'privacy_policy_url'),
  terms_of_service_url: text(given, 'terms_of_service_url'),
});

/** The portal's features: each one off unless the request enables it, with Stripe's defaults. */
const portalFeatures = (given: Params): Stripe.BillingPortal.Configuration.Features => {
  const enabled = (feature: string) => bool((given[feature] as Params | undefined) ?? {}, 'enabled') ?? false;
  return {
    customer_update: { allowed_updates: [], enabled: enabled('customer_update') },
    invoice_history: { enabled: enabled('invoice_history') },
    payment_method_update: { enabled: enabled('payment_method_update'), payment_method_configuration: null },
    subscription_cancel: {
      cancellation_reason: { enabled: false, feedback_options: null, options: [] },
      enabled: enabled('subscription_cancel'),
      mode: 'at_period_end',
      proration_behavior: 'none',
    },
    subscription_pause: { duration: { interval_options: [], type: 'interval_options' }, enabled: false },
    subscription_update: {
      billing_cycle_anchor: null,
      default_allowed_updates: [],
      enabled: enabled('subscription_update'),
      products: [],
      proration_behavior: 'none',
      schedule_at_period_end: { conditions: [] },
      trial_update_behavior: 'continue_trial',
    },
  };
};

export const billingPortalConfigurations = resource(
  plainResource({
    type: 'billing_portal.configuration',
    path: 'billing_portal/configurations',
    emitsEvents: true,
    build: (params, store) => ({
      id: store.id('bpc'),
      object: 'billing_portal.configuration',
      active: true,
      application: null,
      business_profile: portalBusinessProfile((params.business_profile as Params | undefined) ?? {}),
      created: store.now(),
      default_return_url: text(params, 'default_return_url'),
      features: portalFeatures((params.features as Params | undefined) ?? {}),
      is_default: store.collection('billing_portal.configuration').size === 0,
      livemode: false,
      login_page: { enabled: false, url: null },
      metadata: mergeMetadata({}, params.metadata),
      name: text(params, 'name'),
      updated: store.now(),
    }),
    changes: (record, params, store) => ({
      ...named(params, {
        active: bool(params, 'active') ?? undefined,
        default_return_url: text(params, 'default_return_url'),
      }),
      ...('metadata' in params ? { metadata: mergeMetadata(record.metadata, params.metadata) } : {}),
      updated: store.now(),
    }),
  }),
);

export const billingPortalSessions = resource(
  plainResource({
    type: 'billing_portal.session',
    path: 'billing_portal/sessions',
    emitsEvents: false,
    build: (params, store) => {
      const customer = required(params, 'customer');
      if (!store.get('customer', customer)) throw resourceMissing('customer', customer, 'customer');
      const configurationId = text(params, 'configuration');
      const configuration = configurationId
        ? store.get('billing_portal.configuration', configurationId)
        : [...store.collection('billing_portal.configuration').values()].find((c) => c.is_default);
      if (configurationId && !configuration) {
        throw resourceMissing('billing_portal.configuration', configurationId, 'configuration');
      }
      if (!configuration) {
        // As in Stripe's test mode before the portal's settings are saved once.
        throw new StripeApiError(
          400,
          'invalid_request_error',
          'No configuration provided and your test mode default configuration has not been created.',
        );
      }
      const id = store.id('bps');
      return {
        id,
        object: 'billing_portal.session',
        configuration: configuration.id,
        created: store.now(),
        customer,
        customer_account: null,
        flow: null,
        livemode: false,
        locale: null,
        on_behalf_of: null,
        return_url:
          text(params, 'return_url') ?? (configuration?.default_return_url as string | null) ?? null,
        url: `https://billing.stripe.com/p/session/test_${id.slice(4)}`,
      };
    },
  }),
);

/**
 * A Checkout Session's `discounts`: checked now, applied to the subscription it creates. The
 * emulator takes them in subscription mode only.
 */
const sessionDiscounts = (store: EmulatorStore, mode: string, params: Params) => {
  const inputs = discountInputs(params);
  if (inputs.length > 0 && mode !== 'subscription') {
    throw invalid('discounts', 'The emulator applies discounts to subscription-mode sessions only.');
  }
  return inputs.map((input, index) => {
    if (input.promotionCode) {
      const code = store.get('promotion_code', input.promotionCode);
      if (!code?.active)
        throw resourceMissing('promotion_code', input.promotionCode, `discounts[${index}][promotion_code]`);
      return { coupon: null, promotion_code: code.id };
    }
    if (!store.get('coupon', input.coupon ?? '')) {
      throw resourceMissing('coupon', input.coupon ?? '', `discounts[${index}][coupon]`);
    }
    return { coupon: input.coupon, promotion_code: null };
  });
};

/** Tax ids at the top level (`/v1/tax_ids`), of customers: created with `owner`, retrieved, listed, deleted. */
const taxIds = resource({
  type: 'tax_id',
  path: 'tax_ids',
  create: (params, act) => addTaxId(act, ownerCustomer(act.store, params), params),
  remove: (taxId, _params, act) => deleteTaxId(act, taxId),
  matches: (taxId, params) => {
    const owner = (params.owner as Params | undefined) ?? {};
    return !text(owner, 'customer') || referencedId(taxId.customer) === text(owner, 'customer');
  },
});

export const resources: readonly Resource[] = [
  customers,
  products,
  prices,
  webhookEndpoints,
  checkoutSessions,
  billingPortalConfigurations,
  billingPortalSessions,
  taxIds,
];
