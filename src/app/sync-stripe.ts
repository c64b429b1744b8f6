import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import type { Environment } from '../domain/environment.js';
import {
  objectIdsListedBySync,
  stripeObjectFetchedLogEntry,
  stripeSyncPageLogEntry,
  stripeSyncStream,
} from '../domain/event-log.js';
import {
  clockScopedKinds,
  decodeSyncCursor,
  encodeSyncCursor,
  type ListScope,
  perCustomerKinds,
  perProductKinds,
  type SyncObjectKind,
  scopeKey,
  syncObjectKinds,
} from '../domain/sync-kinds.js';
import type { EventLog } from '../ports/event-log.js';
import type { StripeSyncCursorsStore } from '../ports/stores.js';
import type { StripeGateway } from '../ports/stripe.js';
import { observationOf, StripeGatewayError, type WithResponse } from '../ports/stripe.js';
import { notConnectedMessage, type StripeConnections } from './stripe-connections/index.js';
import { type StripeRead, stripeRead } from './stripe-read.js';

type ListParams = {
  limit: number;
  starting_after?: string;
  test_clock?: string;
  customer?: string;
  product?: string;
};
type Page = Stripe.ApiList<{ id: string }> & WithResponse;

/** How one page of a kind is read, each of its requests through `read`. */
type PageRead = (read: StripeRead, params: ListParams) => Promise<unknown>;

/** A page that one request reads. */
const oneRequest =
  (list: (stripe: Stripe, params: ListParams) => Promise<unknown>): PageRead =>
  (read, params) =>
    read((stripe) => list(stripe, params));

/**
 * Every kind of object a sync lists, and how (prices and products active or not, subscriptions of
 * any status). An entitlement summary and a customer's discounts take several requests, each made
 * on its own.
 */
const pageReads = {
  product: oneRequest((stripe, params) => stripe.products.list(params)),
  price: oneRequest((stripe, params) => stripe.prices.list(params)),
  customer: oneRequest((stripe, params) => stripe.customers.list(params)),
  subscription: oneRequest((stripe, params) => stripe.subscriptions.list({ ...params, status: 'all' })),
  invoice: oneRequest((stripe, params) => stripe.invoices.list(params)),
  payment_intent: oneRequest((stripe, params) => stripe.paymentIntents.list(params)),
  charge: oneRequest((stripe, params) => stripe.charges.list(params)),
  refund: oneRequest((stripe, params) => stripe.refunds.list(params)),
  dispute: oneRequest((stripe, params) => stripe.disputes.list(params)),
  'checkout.session': oneRequest((stripe, params) => stripe.checkout.sessions.list(params)),
  payment_method: oneRequest((stripe, { customer, ...params }) =>
    stripe.customers.listPaymentMethods(customer as string, params),
  ),
  setup_intent: oneRequest((stripe, params) => stripe.setupIntents.list(params)),
  'entitlements.feature': oneRequest((stripe, params) => stripe.entitlements.features.list(params)),
  tax_id: oneRequest((stripe, { customer, ...params }) =>
    stripe.customers.listTaxIds(customer as string, params),
  ),
  'radar.early_fraud_warning': oneRequest((stripe, params) => stripe.radar.earlyFraudWarnings.list(params)),
  credit_note: oneRequest((stripe, params) => stripe.creditNotes.list(params)),
  coupon: oneRequest((stripe, params) => stripe.coupons.list(params)),
  promotion_code: oneRequest((stripe, params) => stripe.promotionCodes.list(params)),
  subscription_schedule: oneRequest((stripe, params) => stripe.subscriptionSchedules.list(params)),
  product_feature: oneRequest((stripe, { product, ...params }) =>
    featuresOfProduct(stripe, product as string, params),
  ),
  'entitlements.active_entitlement_summary': (read, { customer }) =>
    activeEntitlementSummary(read, customer as string),
  discount: (read, { customer }) => discountsOfCustomer(read, customer as string),
} as const satisfies Record<SyncObjectKind, PageRead>;

/**
 * A customer's active entitlements as one summary, the object Stripe's
 * `entitlements.active_entitlement_summary.updated` events carry (with the customer as its id):
 * every page of the customer's list, answered as a one-object page observed when the last page
 * was read.
 */
export const activeEntitlementSummary = async (read: StripeRead, customer: string) => {
  const entitlements: Stripe.Entitlements.ActiveEntitlement[] = [];
  let page: Stripe.Response<Stripe.ApiList<Stripe.Entitlements.ActiveEntitlement>>;
  let after: string | undefined;
  do {
    const from = after;
    page = await read((stripe) =>
      stripe.entitlements.activeEntitlements.list({
        customer,
        limit: pageSize,
        ...(from && { starting_after: from }),
      }),
    );
    entitlements.push(...page.data);
    after = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (after);
  // Named by its customer, as Payfold names the summaries of Stripe's events.
  const summary: Stripe.Entitlements.ActiveEntitlementSummary & { id: string } = {
    id: customer,
    object: 'entitlements.active_entitlement_summary',
    customer,
    entitlements: {
      object: 'list',
      data: entitlements,
      has_more: false,
      url: '/v1/entitlements/active_entitlements',
    },
    // No entitlement, no livemode to copy: Payfold reads the environment from the log entry.
    livemode: page.data[0]?.livemode ?? false,
  };
  return { object: 'list', data: [summary], has_more: false, url: page.url, lastResponse: page.lastResponse };
};

/**
 * A page of a product's features. Stripe's `product_feature` does not name its product: Payfold
 * adds it (`product`), as it names an entitlement summary by its customer.
 */
const featuresOfProduct = async (stripe: Stripe, product: string, params: Omit<ListParams, 'product'>) => {
  const page = await stripe.products.listFeatures(product, params);
  return {
    object: 'list',
    data: page.data.map((feature) => ({ ...feature, product })),
    has_more: page.has_more,
    url: page.url,
    lastResponse: page.lastResponse,
  };
};

/**
 * A customer's discounts, which Stripe lists nowhere: the customer's own and those of each of its
 * subscriptions (expanded), as one page observed when the last subscriptions page was read.
 */
export const discountsOfCustomer = async (read: StripeRead, customer: string) => {
  const owner = await read((stripe) => stripe.customers.retrieve(customer));
  const discounts: Stripe.Discount[] = [];
  if (!owner.deleted && owner.discount) discounts.push(owner.discount);
  let page: Stripe.Response<Stripe.ApiList<Stripe.Subscription>>;
  let after: string | undefined;
  do {
    const from = after;
    page = await read((stripe) =>
      stripe.subscriptions.list({
        customer,
        status: 'all',
        limit: pageSize,
        expand: ['data.discounts'],
        ...(from && { starting_after: from }),
      }),
    );
    for (const subscription of page.data) {
      for (const discount of subscription.discounts)
        if (typeof discount !== 'string') discounts.push(discount);
    }
    after = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (after);
  return { object: 'list', data: discounts, has_more: false, url: page.url, lastResponse: page.lastResponse };
};

/**
 * Kinds whose objects Stripe can delete (a deleted price cannot be listed once its product is
 * deleted): after a finished sync, one the tables hold but the sync did not list is fetched, and
 * the answer (`deleted: true`, or a 404) is appended as a deletion.
 */
const retrievals = {
  customer: (stripe: Stripe, id: string) => stripe.customers.retrieve(id),
  product: (stripe: Stripe, id: string) => stripe.products.retrieve(id),
  price: (stripe: Stripe, id: string) => stripe.prices.retrieve(id),
  tax_id: (stripe: Stripe, id: string) => stripe.taxIds.retrieve(id),
  coupon: (stripe: Stripe, id: string) => stripe.coupons.retrieve(id),
  // Stripe cannot retrieve a discount or a product's feature; a finished read of every customer's
  // or product's is whole, so one not read is gone, as a 404 would say.
  discount: null,
  product_feature: null,
} as const;

/** Objects per page: Stripe's most. */
const pageSize = 100;

type StripeObjects = Array<Record<string, unknown> & { id: string; object: string }>;

/** One page of a kind's list in a scope, after the object `after` (from the start when null). */
const listPage = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
  objectKind: SyncObjectKind,
  scope: ListScope,
  after: string | null,
): Promise<Page> => {
  const params = { limit: pageSize, ...scope, ...(after && { starting_after: after }) };
  const read = stripeRead(gateway, environment, secretKey);
  try {
    return (await pageReads[objectKind](read, params)) as Page;
  } catch (error) {
    // A customer or product deleted since the sync listed it has nothing left to list: an empty page.
    const perObject = scope.customer ?? scope.product;
    if (!(perObject && error instanceof StripeGatewayError && error.status === 404)) throw error;
    return {
      object: 'list',
      data: [],
      has_more: false,
      url: '',
      lastResponse: { headers: { date: new Date().toUTCString() } },
    };
  }
};

/** Every page of a small list (test clocks, a clock's customers), as one array. */
const everyObject = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
  list: (stripe: Stripe, params: { limit: number; starting_after?: string }) => Promise<unknown>,
): Promise<Array<{ id: string }>> => {
  const objects: Array<{ id: string }> = [];
  let after: string | null = null;
  do {
    const from: string | null = after;
    const page = (await gateway.call(environment, secretKey, ({ stripe }) =>
      list(stripe, { limit: pageSize, ...(from && { starting_after: from }) }),
    )) as Page;
    objects.push(...page.data);
    after = page.has_more ? (page.data.at(-1)?.id ?? null) : null;
  } while (after);
  return objects;
};

/** Every test clock's id (none in live mode, where there are no test clocks). */
const testClockIds = async (gateway: StripeGateway, environment: Environment, secretKey: string) =>
  environment === 'test'
    ? (
        await everyObject(gateway, environment, secretKey, (stripe, params) =>
          stripe.testHelpers.testClocks.list(params),
        )
      ).map((clock) => clock.id)
    : [];

/** The ids of the customers of these lists: the account's (null) or a test clock's. */
const customerIdsOf = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
  clocks: ReadonlyArray<string | null>,
): Promise<string[]> => {
  const customers = [];
  for (const clock of clocks) {
    customers.push(
      ...(await everyObject(gateway, environment, secretKey, (stripe, params) =>
        stripe.customers.list({ ...params, ...(clock && { test_clock: clock }) }),
      )),
    );
  }
  return customers.map((customer) => customer.id);
};

/**
 * What the scopes of a run's kinds read, read once per run: the test clocks and every customer
 * (several kinds are listed per customer).
 */
export interface ScopeReads {
  clocks?: Promise<string[]>;
  customers?: Promise<string[]>;
}

/**
 * Where a kind is listed: the account's list, then, in test mode, each test clock's (Stripe leaves
 * a clock's customers, subscriptions and invoices out of the account's lists; invoices are listed
 * per customer of each clock). The per-customer kinds (payment methods, active entitlements, tax
 * ids) are listed for every customer, the test clocks' included.
 */
const listScopes = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
  objectKind: SyncObjectKind,
  reads: ScopeReads = {},
): Promise<ListScope[]> => {
  if (perProductKinds.has(objectKind)) {
    const products = await everyObject(gateway, environment, secretKey, (stripe, params) =>
      stripe.products.list(params),
    );
    return products.map((product) => ({ product: product.id }));
  }
  // Read only by a kind that needs them: a read nobody awaits could fail unheard.
  const clocksOnce = () => {
    reads.clocks ??= testClockIds(gateway, environment, secretKey);
    return reads.clocks;
  };
  if (perCustomerKinds.has(objectKind)) {
    reads.customers ??= clocksOnce().then((clocks) =>
      customerIdsOf(gateway, environment, secretKey, [null, ...clocks]),
    );
    return (await reads.customers).map((customer) => ({ customer }));
  }
  const filter = clockScopedKinds[objectKind];
  if (environment !== 'test' || !filter) return [{}];
  const clocks = await clocksOnce();
  if (filter === 'test_clock') return [{}, ...clocks.map((clock) => ({ test_clock: clock }))];
  const customers = await customerIdsOf(gateway, environment, secretKey, clocks);
  return [{}, ...customers.map((customer) => ({ customer }))];
};

/**
 * Every object of a kind, page by page, as Stripe lists it now (each page with Stripe's clock when
 * it answered), test clocks' included. Reconcile reads the account with it; sync appends the same
 * pages, resumably.
 */
export const listEveryObject = async (
  gateway: StripeGateway,
  environment: Environment,
  secretKey: string,
  objectKind: SyncObjectKind,
  visit: (objects: StripeObjects, observedAt: number) => Promise<void>,
  reads: ScopeReads = {},
): Promise<void> => {
  for (const scope of await listScopes(gateway, environment, secretKey, objectKind, reads)) {
    let after: string | null = null;
    do {
      const page = await listPage(gateway, environment, secretKey, objectKind, scope, after);
      await visit(page.data as unknown as StripeObjects, observedAtOf(page));
      after = page.has_more ? (page.data.at(-1)?.id ?? null) : null;
    } while (after);
  }
};

export interface SyncProgress {
  objectKind: SyncObjectKind;
  pages: number;
  objects: number;
  done: boolean;
}

export interface SyncSummary {
  environment: Environment;
  /** Per kind, also how many objects the tables held that Stripe no longer has. */
  kinds: Array<SyncProgress & { resumed: boolean; deleted: number }>;
  seconds: number;
}

export type SyncResult =
  | { ok: true; summary: SyncSummary }
  | { ok: false; message: string; status: 409 | 502 };

export interface SyncStripeDeps {
  connections: StripeConnections;
  gateway: StripeGateway;
  cursors: StripeSyncCursorsStore;
  log: EventLog;
}

/** Stripe's clock when it answered, which orders the observation: required of a read. */
const observedAtOf = (answer: WithResponse): number => {
  const { observedAt } = observationOf(answer);
  if (observedAt === undefined) throw new Error('Stripe answered a read without a Date header');
  return observedAt;
};

/**
 * A sync (backfill) of one environment: every page of every kind's list call is appended to the
 * log as one `stripe.sync.page` entry, and the projections do the rest under the same ordering
 * rule as webhooks (an API read is observed at the response's `Date`), so a sync racing webhooks
 * converges. Kinds are listed side by side under the gateway's rate limit. A kind whose last sync
 * stopped half-way resumes after its last appended page.
 */
export const syncStripe = async (
  { connections, gateway, cursors, log }: SyncStripeDeps,
  environment: Environment,
  kinds: readonly SyncObjectKind[] = syncObjectKinds,
  onProgress: (progress: SyncProgress) => void = () => undefined,
): Promise<SyncResult> => {
  const secretKey = await connections.secretKey(environment);
  if (!secretKey) {
    return { ok: false, status: 409, message: notConnectedMessage(environment) };
  }
  const started = performance.now();
  const known = new Map((await cursors.all(environment)).map((cursor) => [cursor.objectKind, cursor]));
  const reads: ScopeReads = {};
  // One kind's failure stops the others before their next page, and the sync answers only once
  // none of them is still listing or appending: a failed sync leaves nothing running behind it.
  let failure: { error: unknown } | undefined;
  /** One kind, page by page; undefined when another kind's failure stopped it. */
  const syncKind = async (objectKind: SyncObjectKind) => {
    const previous = known.get(objectKind);
    const resumed = previous !== undefined && previous.finishedAt === null;
    const syncId = resumed ? previous.syncId : randomUUID();
    if (!resumed) await cursors.start(environment, objectKind, syncId);
    const scopes = await listScopes(gateway, environment, secretKey, objectKind, reads);
    // A resumed sync goes on in the scope it stopped in (from the start if that clock is gone).
    const stopped = decodeSyncCursor(resumed ? previous.nextCursor : null);
    const resumedAt = scopes.findIndex((scope) => scopeKey(scope) === stopped.scopeKey);
    let scopeIndex = Math.max(0, resumedAt);
    let after = resumedAt >= 0 ? stopped.after : null;
    const listed = new Set<string>();
    const progress: SyncProgress = {
      objectKind,
      pages: resumed ? previous.pages : 0,
      objects: resumed ? previous.objects : 0,
      done: scopes.length === 0,
    };
    if (progress.done) await cursors.finish(environment, objectKind, syncId);
    while (!progress.done) {
      if (failure) return undefined;
      const scope = scopes[scopeIndex] as ListScope;
      const page = await listPage(gateway, environment, secretKey, objectKind, scope, after);
      const objects = page.data as unknown as Array<Record<string, unknown>>;
      for (const object of page.data) listed.add(object.id);
      await log.append(
        stripeSyncPageLogEntry(environment, {
          syncId,
          objectKind,
          cursor: encodeSyncCursor(scope, after),
          observedAt: observedAtOf(page),
          objects,
          hasMore: page.has_more,
        }),
      );
      after = page.has_more ? (page.data.at(-1)?.id ?? null) : null;
      let next: string | null = null;
      if (after !== null) next = encodeSyncCursor(scope, after);
      else if (scopeIndex + 1 < scopes.length) {
        scopeIndex += 1;
        next = encodeSyncCursor(scopes[scopeIndex] as ListScope, null);
      }
      await cursors.advance(environment, objectKind, syncId, next, objects.length);
      progress.pages += 1;
      progress.objects += objects.length;
      progress.done = next === null;
      onProgress({ ...progress });
    }
    if (failure) return undefined;
    const deleted = await appendDeletions(
      { gateway, cursors, log },
      environment,
      secretKey,
      objectKind,
      resumed
        ? new Set(
            objectIdsListedBySync(await log.readStream(stripeSyncStream(environment, objectKind)), syncId),
          )
        : listed,
    );
    return { ...progress, resumed, deleted };
  };
  try {
    const outcomes = await Promise.all(
      kinds.map((objectKind) =>
        syncKind(objectKind).catch((error: unknown) => {
          failure ??= { error };
          return undefined;
        }),
      ),
    );
    if (failure) throw failure.error;
    const results = outcomes.filter((outcome) => outcome !== undefined);
    return {
      ok: true,
      summary: { environment, kinds: results, seconds: (performance.now() - started) / 1000 },
    };
  } catch (error) {
    if (error instanceof StripeGatewayError) return { ok: false, status: 502, message: error.message };
    throw error;
  }
};

/**
 * After a kind's sync has listed everything: the objects the tables hold as live that the sync did
 * not list are fetched one by one; Stripe answers a deleted customer with `deleted: true` and a
 * deleted product or price with a 404, which is appended as `{id, object, deleted: true}`
 * (observed now: a deletion wins whatever its time). Returns how many were deleted.
 */
const appendDeletions = async (
  { gateway, cursors, log }: Pick<SyncStripeDeps, 'gateway' | 'cursors' | 'log'>,
  environment: Environment,
  secretKey: string,
  objectKind: SyncObjectKind,
  listed: ReadonlySet<string>,
): Promise<number> => {
  if (!(objectKind in retrievals)) return 0;
  const retrieve: ((stripe: Stripe, id: string) => Promise<unknown>) | null =
    retrievals[objectKind as keyof typeof retrievals];
  let deleted = 0;
  for (const id of await cursors.mirrored(environment, objectKind)) {
    if (listed.has(id)) continue;
    let object: Record<string, unknown> & { id: string; object: string };
    let observedAt: number;
    try {
      if (!retrieve)
        throw new StripeGatewayError(
          `${objectKind} ${id} is not in Stripe's read`,
          404,
          undefined,
          undefined,
        );
      const fetched = (await gateway.call(environment, secretKey, ({ stripe }) =>
        retrieve(stripe, id),
      )) as typeof object & WithResponse;
      object = observationOf(fetched).object;
      observedAt = observedAtOf(fetched);
    } catch (error) {
      if (!(error instanceof StripeGatewayError) || error.status !== 404) throw error;
      object = { id, object: objectKind, deleted: true };
      observedAt = Math.floor(Date.now() / 1000);
    }
    if (object.deleted === true) deleted += 1;
    await log.append(stripeObjectFetchedLogEntry(environment, { fetchId: randomUUID(), observedAt, object }));
  }
  return deleted;
};
