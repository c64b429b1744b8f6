import type { FastifyInstance, FastifyRequest } from 'fastify';
import { billingResources } from './billing-resources.js';
import { coupons, promotionCodes } from './coupons.js';
import { creditNotes } from './credit-notes.js';
import { earlyFraudWarnings } from './early-fraud-warnings.js';
import { activeEntitlements, features } from './entitlements.js';
import { expand, expansionsOf } from './expand.js';
import { type Faults, faultsSchema } from './faults.js';
import { testHelperRoutes, testHelpers } from './helpers.js';
import type { Mutation } from './idempotency.js';
import { listPage, newestFirst } from './lists.js';
import { type Params, resourceMissing, StripeApiError } from './params.js';
import { type Resource, resources } from './resources.js';
import { searchPage } from './search.js';
import { setupIntents } from './setup-intents.js';
import type { EmulatorStore, RequestContext, StripeRecord } from './store.js';
import { subscriptionSchedules } from './subscription-schedules.js';

const thirtyDays = 30 * 24 * 60 * 60;

/** Where tests set faults over HTTP; never itself hit by API faults. */
export const faultsRoute = '/v1/test_helpers/emulator/faults';

const allResources: readonly Resource[] = [
  ...resources,
  ...billingResources,
  setupIntents,
  features,
  activeEntitlements,
  earlyFraudWarnings,
  creditNotes,
  coupons,
  promotionCodes,
  subscriptionSchedules,
];

/**
 * As in Stripe, objects of a test clock's customers are left out of these lists unless the request
 * names a test clock, a customer or a subscription.
 */
const clockScopedTypes = new Set(['customer', 'subscription', 'invoice']);
const listedWithoutScope = (type: string, record: StripeRecord, params: Params): boolean =>
  !clockScopedTypes.has(type) ||
  record.test_clock == null ||
  ['test_clock', 'customer', 'subscription'].some(
    (scope) => params[scope] !== undefined && params[scope] !== '',
  );

/** `customer.*` matches every customer event, as in Stripe's `types[]` filter. */
const matchesType = (pattern: string, type: string): boolean =>
  pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;

export interface ApiRoutesOptions {
  /** The id `/v1/account` answers (default `acct_emulator`). */
  accountId?: string;
  store: EmulatorStore;
  paramsOf: (request: FastifyRequest) => Params;
  mutation: Mutation;
  setFaults: (faults: Faults) => void;
}

/**
 * Every route of the API: each resource the same way (create, retrieve, list, update, delete,
 * `/:id/<action>`, `/:id/<list>`), then the test helpers, events and the account.
 */
export const registerApiRoutes = (
  app: FastifyInstance,
  { store, paramsOf, mutation, setFaults, accountId = 'acct_emulator' }: ApiRoutesOptions,
) => {
  const withoutSecrets = (resource: Resource, record: StripeRecord) => {
    if (!resource.secretFields) return record;
    const shown = { ...record };
    for (const field of resource.secretFields) delete shown[field];
    return shown;
  };
  const found = (resource: Resource, id: string): StripeRecord => {
    const record = store.get(resource.type, id);
    if (!record) throw resourceMissing(resource.type, id);
    return record;
  };
  /** What a resource's route answers: without secrets, with what `expand[]` asks for. */
  const shown = (resource: Resource, body: Record<string, unknown>, params: Params) =>
    expand(store, allResources, withoutSecrets(resource, body as StripeRecord), expansionsOf(params));
  const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

  for (const resource of allResources) {
    const base = `/v1/${resource.path}`;
    const { create, update, remove, actions, lists, matches } = resource;
    if (create) {
      app.post(
        base,
        // The create call is the one answer that shows secret fields (a webhook endpoint's secret).
        mutation((params, context) =>
          expand(store, allResources, create(params, { store, context }), expansionsOf(params)),
        ),
      );
    }
    app.get<{ Params: { id: string } }>(`${base}/:id`, async (request) => {
      const params = paramsOf(request);
      if (resource.answersWhenDeleted && store.deleted.get(resource.type)?.has(request.params.id)) {
        return { id: request.params.id, object: resource.type, deleted: true };
      }
      return shown(resource, found(resource, request.params.id), params);
    });
    const { searchFields } = resource;
    if (searchFields) {
      app.get(`${base}/search`, async (request) => {
        const params = paramsOf(request);
        const page = searchPage(newestFirst(store.collection(resource.type).values()), params, {
          fields: searchFields,
          resource: resource.path,
          url: `${base}/search`,
        });
        return expand(store, allResources, page, expansionsOf(params));
      });
    }
    app.get(base, async (request) => {
      const params = paramsOf(request);
      const page = listPage(
        newestFirst(store.collection(resource.type).values()).map((record) =>
          withoutSecrets(resource, record),
        ),
        params,
        base,
        (record) =>
          listedWithoutScope(resource.type, record, params) &&
          (matches ? matches(record, params, store) : true),
      );
      return expand(store, allResources, page, expansionsOf(params));
    });
    if (update) {
      app.post(
        `${base}/:id`,
        mutation((params, context, request) =>
          shown(resource, update(found(resource, idOf(request)), params, { store, context }), params),
        ),
      );
    }
    if (remove) {
      app.delete(
        `${base}/:id`,
        mutation((params, context, request) =>
          remove(found(resource, idOf(request)), params, { store, context }),
        ),
      );
    }
    for (const [name, action] of Object.entries(actions ?? {})) {
      app.post(
        `${base}/:id/${name}`,
        mutation((params, context, request) =>
          shown(resource, action(found(resource, idOf(request)), params, { store, context }), params),
        ),
      );
    }
    for (const [name, list] of Object.entries(lists ?? {})) {
      app.get(`${base}/:id/${name}`, async (request) => {
        const params = paramsOf(request);
        const record = found(resource, idOf(request));
        return expand(
          store,
          allResources,
          listPage(list(record, store), params, `${base}/${record.id}/${name}`),
          expansionsOf(params),
        );
      });
    }
  }

  const requestHelpers = (context: RequestContext) => testHelpers(store, context);
  for (const [route, helper] of Object.entries(testHelperRoutes)) {
    app.post(
      `/v1/test_helpers/${route}`,
      mutation((params, context, request) => helper(requestHelpers(context), idOf(request), params)),
    );
  }
  app.post(
    faultsRoute,
    mutation((params) => {
      const parsed = faultsSchema.safeParse(params);
      if (!parsed.success) {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Invalid faults: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
        );
      }
      setFaults(parsed.data);
      return { object: 'emulator.faults', ...parsed.data };
    }),
  );

  app.get<{ Params: { id: string } }>('/v1/events/:id', async (request) => {
    const event = store.events.find((candidate) => candidate.id === request.params.id);
    if (!event) throw resourceMissing('event', request.params.id);
    return event;
  });
  app.get('/v1/events', async (request) => {
    const params = paramsOf(request);
    const types = params.types ?? params.type;
    const wanted = typeof types === 'string' ? [types] : Array.isArray(types) ? types.map(String) : null;
    const since = store.now() - thirtyDays;
    return listPage(
      newestFirst(store.events as unknown as StripeRecord[]),
      params,
      '/v1/events',
      (event) =>
        event.created >= since && (!wanted || wanted.some((type) => matchesType(type, String(event.type)))),
    );
  });
  app.get('/v1/account', async () => ({
    id: accountId,
    object: 'account',
    business_profile: { name: 'Payfold emulator' },
    charges_enabled: true,
    country: 'US',
    default_currency: 'usd',
    details_submitted: true,
    payouts_enabled: true,
    type: 'standard',
  }));
};
