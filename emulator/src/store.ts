import { createHash, randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/** Stripe's object type of test clocks, whose customers live at the clock's frozen time. */
export const testClockType = 'test_helpers.test_clock';
/** Object types whose names differ from their API paths. */
export const subscriptionItemType = 'subscription_item';
export const invoicePaymentType = 'invoice_payment';

/** Stripe's API version the emulator speaks: the one the `stripe` package pins. */
export const emulatorApiVersion = Stripe.API_VERSION;

/** Any stored object, for the code that treats every resource alike (routes, lists, expand). */
export type StripeRecord = Record<string, unknown> & { id: string; object: string; created: number };

/**
 * The objects the emulator keeps, by Stripe object type, typed as the `stripe` package types them
 * for the API version it pins: what the emulator builds and changes is checked against Stripe's
 * own shapes.
 */
export interface StoredObjects {
  customer: Stripe.Customer;
  product: Stripe.Product;
  price: Stripe.Price;
  'checkout.session': Stripe.Checkout.Session;
  'billing_portal.configuration': Stripe.BillingPortal.Configuration;
  'billing_portal.session': Stripe.BillingPortal.Session;
  subscription: Stripe.Subscription;
  subscription_item: Stripe.SubscriptionItem;
  invoice: Stripe.Invoice;
  invoice_payment: Stripe.InvoicePayment;
  payment_intent: Stripe.PaymentIntent;
  charge: Stripe.Charge;
  refund: Stripe.Refund;
  dispute: Stripe.Dispute;
  webhook_endpoint: Stripe.WebhookEndpoint;
  'test_helpers.test_clock': Stripe.TestHelpers.TestClock;
  payment_method: Stripe.PaymentMethod;
  setup_intent: Stripe.SetupIntent;
  balance_transaction: Stripe.BalanceTransaction;
  'entitlements.feature': Stripe.Entitlements.Feature;
  'entitlements.active_entitlement': Stripe.Entitlements.ActiveEntitlement;
  tax_id: Stripe.TaxId;
  credit_note: Stripe.CreditNote;
  coupon: Stripe.Coupon;
  promotion_code: Stripe.PromotionCode;
  discount: Stripe.Discount;
  subscription_schedule: Stripe.SubscriptionSchedule;
  'radar.early_fraud_warning': Stripe.Radar.EarlyFraudWarning;
  'checkout.session.extras': CheckoutSessionExtras;
  'payment_method.extras': PaymentMethodExtras;
  'product_feature.extras': ProductFeatureExtras;
  'entitlements.active_entitlement.extras': ActiveEntitlementExtras;
}

/** A feature attached to a product (Stripe's `product_feature` names neither). */
export interface ProductFeatureExtras {
  id: string;
  object: 'product_feature.extras';
  created: number;
  product: string;
  feature: string;
}

/** Whose an active entitlement is (Stripe's object does not say). */
export interface ActiveEntitlementExtras {
  id: string;
  object: 'entitlements.active_entitlement.extras';
  created: number;
  customer: string;
}

/** The Stripe test card a payment method was made from (the emulator's own, not Stripe's). */
export interface PaymentMethodExtras {
  id: string;
  object: 'payment_method.extras';
  created: number;
  test_card: string;
}

/**
 * What a Checkout Session was created with but does not show (the emulator's own, not Stripe's):
 * its line items, listed by `/line_items`, and the metadata to copy onto what it creates.
 */
export interface CheckoutSessionExtras {
  id: string;
  object: 'checkout.session.extras';
  created: number;
  line_items: Stripe.LineItem[];
  subscription_metadata: Record<string, string>;
  payment_intent_metadata: Record<string, string>;
}
export type ObjectType = keyof StoredObjects;

/** The id of an expandable reference: stored objects hold ids, never expanded objects. */
export const referencedId = (reference: string | { id: string } | null | undefined): string | null =>
  reference == null ? null : typeof reference === 'string' ? reference : reference.id;

/**
 * A decimal as Stripe's JSON carries it: a string. The package's types call it `Decimal`, an
 * object only the package's own parsing makes; a stored object keeps the wire form, which also
 * survives `structuredClone` and a state file.
 */
export const wireDecimal = (value: string): Stripe.Decimal => value as unknown as Stripe.Decimal;

export interface EmittedEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: StripeRecord; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const idOf = (prefix: string, bytes: Uint8Array): string => {
  let id = '';
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return `${prefix}_${id}`;
};

/** An id with Stripe's prefix and 24 random characters (`cus_…`, `prod_…`); also for secrets. */
export const stripeId = (prefix: string): string => idOf(prefix, randomBytes(24));

/**
 * A seeded pseudo-random generator (mulberry32): the same seed gives the same numbers, so a
 * seeded emulator gives the same ids and the same faults run after run.
 */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export interface StoreOptions {
  /** The account's clock in Unix seconds (objects not on a test clock); the wall clock by default. */
  now?: () => number;
  /** Makes object and event ids reproducible: the same calls give the same ids. */
  seed?: number;
  /**
   * How long after a charge succeeds Stripe's balance transaction for it appears (`charge.updated`);
   * 300 ms by default (Stripe takes seconds).
   */
  settlementDelayMs?: number;
}

/**
 * Who caused a change and when: the API request (none for what time or a bank does on its own)
 * and the account time it happened at (a test clock's frozen time for objects on that clock).
 */
export interface AccountState {
  objects: Record<string, StripeRecord[]>;
  deleted?: Record<string, string[]>;
  events: EmittedEvent[];
}

export interface Act {
  store: EmulatorStore;
  context: RequestContext;
}

export interface RequestContext {
  requestId: string | null;
  idempotencyKey: string | null;
  /** Seconds; the store's clock when absent. */
  at?: number;
}

/**
 * The emulator's account: objects by type, the events their changes emitted (newest last), and
 * listeners that deliver events to webhook endpoints. In memory; nothing else holds state.
 * Objects are held as plain records (the routes, lists and `expand[]` treat every type alike);
 * `get`, `all`, `create`, `update` and `remove` hand them out typed as `StoredObjects` says, the
 * one place where a record becomes a `Stripe.Subscription` and the like.
 */
export class EmulatorStore {
  private readonly objects = new Map<string, Map<string, StripeRecord>>();
  /** Ids of deleted objects by type, for the types Stripe still answers for (`{deleted: true}`). */
  readonly deleted = new Map<string, Set<string>>();
  readonly events: EmittedEvent[] = [];
  private readonly listeners: Array<(event: EmittedEvent) => void> = [];
  /** What Stripe changes because of an event, in the same request (a customer's entitlements). */
  private readonly consequences: Array<(event: EmittedEvent, context: RequestContext) => void> = [];

  readonly now: () => number;
  readonly settlementDelayMs: number;
  private readonly random: (() => number) | null;
  /** What Stripe does a while after a request, not during it (a charge's balance transaction). */
  private readonly later = new Map<Promise<void>, () => void>();

  constructor(options: StoreOptions = {}) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.settlementDelayMs = options.settlementDelayMs ?? 300;
    this.random = options.seed === undefined ? null : seededRandom(options.seed);
  }

  /** Runs `task` after `delayMs`, outside any request; `laterDone` waits for it, `cancelLater` drops it. */
  schedule(delayMs: number, task: () => void): void {
    let cancel: () => void = () => undefined;
    const pending = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), delayMs);
      cancel = () => {
        clearTimeout(timer);
        resolve(false);
      };
    }).then((due) => {
      if (due) task();
    });
    this.later.set(pending, cancel);
    void pending.finally(() => this.later.delete(pending));
  }

  /** Resolves when every task scheduled so far (and any they scheduled) has run. */
  async laterDone(): Promise<void> {
    while (this.later.size > 0) await Promise.allSettled([...this.later.keys()]);
  }

  /** Drops the tasks not yet run (the emulator stops). */
  cancelLater(): void {
    for (const cancel of this.later.values()) cancel();
  }

  /** A new object id with Stripe's prefix: random, or from the seed when the store has one. */
  id(prefix: string): string {
    const random = this.random;
    if (!random) return stripeId(prefix);
    return idOf(
      prefix,
      Uint8Array.from({ length: 24 }, () => Math.floor(random() * 256)),
    );
  }

  collection(type: string): Map<string, StripeRecord> {
    let collection = this.objects.get(type);
    if (!collection) {
      collection = new Map();
      this.objects.set(type, collection);
    }
    return collection;
  }

  get<T extends ObjectType>(type: T, id: string): StoredObjects[T] | undefined;
  get(type: string, id: string): StripeRecord | undefined;
  get(type: string, id: string): unknown {
    return this.collection(type).get(id);
  }

  /** Stores an object Stripe emits no event for (a subscription's items change with it). */
  put<T extends ObjectType>(type: T, record: StoredObjects[T]): StoredObjects[T] {
    this.collection(type).set(record.id, record as unknown as StripeRecord);
    return record;
  }

  /** Forgets an object Stripe emits no event for. */
  drop(type: ObjectType, id: string): void {
    this.collection(type).delete(id);
  }

  /** Every stored object of a type, oldest first. */
  all<T extends ObjectType>(type: T): StoredObjects[T][] {
    return [...this.collection(type).values()] as unknown as StoredObjects[T][];
  }

  onEvent(listener: (event: EmittedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Runs `consequence` after each event, in its request: what it emits comes right after. */
  afterEvent(consequence: (event: EmittedEvent, context: RequestContext) => void): void {
    this.consequences.push(consequence);
  }

  /** Everything the account holds, as JSON-ready data (for a state file). */
  snapshot(): AccountState {
    return {
      objects: Object.fromEntries([...this.objects].map(([type, records]) => [type, [...records.values()]])),
      deleted: Object.fromEntries([...this.deleted].map(([type, ids]) => [type, [...ids]])),
      events: this.events,
    };
  }

  /** Loads what `snapshot` gave, in the same order (lists are ordered by insertion). */
  restore(state: AccountState): void {
    for (const [type, records] of Object.entries(state.objects)) {
      const collection = this.collection(type);
      for (const record of records) collection.set(record.id, record);
    }
    for (const [type, ids] of Object.entries(state.deleted ?? {})) this.deleted.set(type, new Set(ids));
    this.events.push(...state.events);
  }

  /** Stores a new object and emits `eventType` (null: an object Stripe emits no event for). */
  create<T extends ObjectType>(
    type: T,
    record: StoredObjects[T],
    eventType: string | null,
    context: RequestContext,
  ): StoredObjects[T] {
    this.put(type, record);
    if (eventType) this.emit(eventType, record, undefined, context);
    return record;
  }

  /**
   * Applies changes and emits the update with Stripe's `previous_attributes` (the old values of
   * the fields that changed). Changes that change nothing emit nothing, as with Stripe.
   */
  update<T extends ObjectType>(
    type: T,
    id: string,
    changes: Partial<StoredObjects[T]>,
    eventType: string | null,
    context: RequestContext,
  ): StoredObjects[T] {
    const record = this.collection(type).get(id) as StripeRecord;
    const previous: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(changes)) {
      if (JSON.stringify(record[field]) === JSON.stringify(value)) continue;
      previous[field] = record[field] ?? null;
      record[field] = value;
    }
    if (eventType && Object.keys(previous).length > 0) {
      this.emit(eventType, record, carriesPreviousAttributes(eventType) ? previous : undefined, context);
    }
    return record as unknown as StoredObjects[T];
  }

  remove<T extends ObjectType>(
    type: T,
    id: string,
    eventType: string | null,
    context: RequestContext,
  ): StoredObjects[T] {
    const record = this.get(type, id) as StoredObjects[T];
    this.collection(type).delete(id);
    if (!this.deleted.has(type)) this.deleted.set(type, new Set());
    this.deleted.get(type)?.add(id);
    if (eventType) this.emit(eventType, record, undefined, context);
    return record;
  }

  emit(
    type: string,
    object: object,
    previous: Record<string, unknown> | undefined,
    context: RequestContext,
  ): EmittedEvent {
    const event: EmittedEvent = {
      id: this.id('evt'),
      object: 'event',
      api_version: emulatorApiVersion,
      created: context.at ?? this.now(),
      data: {
        // Events carry a copy of the object as it is now; the generic record is what they hold.
        object: structuredClone(object) as StripeRecord,
        ...(previous ? { previous_attributes: structuredClone(previous) } : {}),
      },
      livemode: false,
      pending_webhooks: 0,
      request: { id: context.requestId, idempotency_key: context.idempotencyKey },
      type,
    };
    this.events.push(event);
    for (const listener of this.listeners) listener(event);
    for (const consequence of this.consequences) consequence(event, context);
    return event;
  }
}

/**
 * Stripe documents `previous_attributes` for `*.updated` events; its payloads also show them on
 * `charge.refunded`. Other changes (`invoice.paid`, `payment_intent.succeeded`…) come without, so
 * a consumer must order them by other means, as with Stripe.
 */
const carriesPreviousAttributes = (eventType: string): boolean =>
  eventType.endsWith('.updated') || eventType === 'charge.refunded';

/** A fingerprint of request parameters, to tell a retried request from a different one. */
export const paramsFingerprint = (method: string, path: string, params: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify([method, path, params]))
    .digest('hex');
