import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import qs from 'qs';
import { billingResources } from './billing-resources.js';
import { type DeliveryOptions, deliverEvent, endpointTargets } from './delivery.js';
import { expand, expansionsOf } from './expand.js';
import { apiFaultPicker, deliveryPlanner, type Faults, faultsSchema } from './faults.js';
import { type TestHelpers, testHelperRoutes, testHelpers } from './helpers.js';
import { listPage, newestFirst } from './lists.js';
import { type Params, resourceMissing, StripeApiError } from './params.js';
import { type Resource, resources } from './resources.js';
import {
  EmulatorStore,
  paramsFingerprint,
  type RequestContext,
  type StoreOptions,
  type StripeRecord,
  stripeId,
} from './store.js';

export interface EmulatorOptions {
  port?: number;
  host?: string;
  /** Also deliver every event here (like `stripe listen --forward-to`), signed with `forwardSecret`. */
  forwardTo?: string;
  forwardSecret?: string;
  delivery?: DeliveryOptions;
  /** Keep the account in this JSON file: loaded at start, written after every change. */
  stateFile?: string;
  /** The account's clock and id seed (see `StoreOptions`), for reproducible runs. */
  store?: StoreOptions;
  /** Delivery and API faults from the start; `setFaults` changes them later. */
  faults?: Faults;
}

export interface DroppedDelivery {
  eventId: string;
  type: string;
  url: string;
}

export interface RunningEmulator {
  /** Base URL for the `stripe` package (`host`/`port`/`protocol`) or `STRIPE_API_BASE`. */
  url: string;
  store: EmulatorStore;
  /** The signing secret of `forwardTo` deliveries. */
  forwardSecret: string;
  /** Resolves when every delivery started so far has finished (answered or given up). */
  settled(): Promise<void>;
  /** Completing checkouts, advancing clocks, refunds and disputes, as the HTTP test helpers. */
  helpers: TestHelpers;
  /** Replaces the delivery and API faults (`{}` turns them off); throws on invalid settings. */
  setFaults(faults: Faults): void;
  /** The deliveries delivery faults dropped, oldest first. */
  dropped: DroppedDelivery[];
  /** The API faults that hit a call, oldest first (`POST /v1/refunds`, `rate_limit`). */
  injectedApiFaults: Array<{ call: string; kind: string }>;
  stop(): Promise<void>;
}

const thirtyDays = 30 * 24 * 60 * 60;

/** Where tests set faults over HTTP; never itself hit by API faults. */
const faultsRoute = '/v1/test_helpers/emulator/faults';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The helpers, each call followed by `changed` (so that a state file keeps what they did). */
const watched = (helpers: TestHelpers, changed: () => void): TestHelpers =>
  Object.fromEntries(
    Object.entries(helpers).map(([name, helper]) => [
      name,
      (...args: unknown[]) => {
        const result = (helper as (...a: unknown[]) => unknown)(...args);
        changed();
        return result;
      },
    ]),
  ) as unknown as TestHelpers;

const allResources: readonly Resource[] = [...resources, ...billingResources];

interface IdempotentResponse {
  fingerprint: string;
  status: number;
  body: unknown;
}

const errorBody = (error: StripeApiError) => ({
  error: {
    type: error.type,
    message: error.message,
    ...(error.code ? { code: error.code } : {}),
    ...(error.param ? { param: error.param } : {}),
  },
});

const errorReply = (reply: FastifyReply, error: StripeApiError) =>
  reply.status(error.status).send(errorBody(error));

/**
 * A local Stripe for tests, development and the demo: the part of the API Payfold and its users
 * touch, spoken the way the real `stripe` package speaks it (form-encoded bodies with brackets,
 * Stripe-shaped JSON and errors, `Idempotency-Key`, list cursors), emitting the events Stripe
 * emits and delivering them, signed, to the webhook endpoints created through it.
 */
export const startEmulator = async (options: EmulatorOptions = {}): Promise<RunningEmulator> => {
  const store = new EmulatorStore(options.store);
  const stateFile = options.stateFile ? await openStateFile(options.stateFile, store) : undefined;
  const forwardSecret = options.forwardSecret ?? `whsec_${randomBytes(24).toString('hex')}`;
  const idempotency = new Map<string, IdempotentResponse>();
  const deliveries = new Set<Promise<void>>();
  const track = (delivery: Promise<void>) => {
    deliveries.add(delivery);
    void delivery.finally(() => deliveries.delete(delivery));
  };
  const dropped: DroppedDelivery[] = [];
  /** Per endpoint, the release of the event a `reorder` fault holds back. */
  const heldBack = new Map<string, () => void>();
  const injectedApiFaults: RunningEmulator['injectedApiFaults'] = [];
  let planDelivery = deliveryPlanner(null);
  let pickApiFaults = apiFaultPicker(null);
  const setFaults = (faults: Faults) => {
    const settings = faultsSchema.parse(faults);
    planDelivery = deliveryPlanner(settings.delivery);
    pickApiFaults = apiFaultPicker(settings.api);
  };
  setFaults(options.faults ?? {});
  store.onEvent((event) => {
    const targets = endpointTargets(store.collection('webhook_endpoint').values());
    if (options.forwardTo)
      targets.push({ url: options.forwardTo, secret: forwardSecret, enabledEvents: ['*'] });
    for (const target of targets) {
      const plan = planDelivery();
      if (plan.dropped) {
        dropped.push({ eventId: event.id, type: event.type, url: target.url });
        continue;
      }
      const send = () => {
        for (const delayMs of plan.delaysMs) {
          track(
            (delayMs > 0 ? sleep(delayMs) : Promise.resolve()).then(() =>
              deliverEvent(event, target, options.delivery),
            ),
          );
        }
      };
      const earlier = heldBack.get(target.url);
      if (plan.heldBack && !earlier) {
        track(
          new Promise<void>((resolve) => {
            const release = () => {
              clearTimeout(timer);
              heldBack.delete(target.url);
              send();
              resolve();
            };
            const timer = setTimeout(release, plan.holdMs);
            heldBack.set(target.url, release);
          }),
        );
        continue;
      }
      send();
      earlier?.();
    }
  });

  const app: FastifyInstance = Fastify({ logController: new LogController({ disableRequestLogging: true }) });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
    done(null, qs.parse(String(body), { depth: 10, arrayLimit: 1000, parameterLimit: 10_000 })),
  );
  app.addHook('onRequest', async (request, reply) => {
    reply.header('date', new Date().toUTCString());
    reply.header('request-id', stripeId('req'));
    if (!/^(sk|rk)_test_\S+$/.test(apiKeyOf(request.headers.authorization ?? ''))) {
      return errorReply(
        reply,
        new StripeApiError(
          401,
          'invalid_request_error',
          'Invalid API Key provided: the emulator takes test-mode keys (sk_test_…).',
        ),
      );
    }
    if (request.url.startsWith(faultsRoute)) return;
    const call = `${request.method} ${request.url}`;
    for (const fault of pickApiFaults(call)) {
      injectedApiFaults.push({ call, kind: fault.kind });
      if (fault.kind === 'slow') {
        await sleep(fault.delayMs);
        continue;
      }
      reply.header('stripe-should-retry', 'true');
      if (fault.kind === 'rate_limit') {
        reply.header('retry-after', String(fault.retryAfterSeconds));
        return errorReply(
          reply,
          new StripeApiError(
            429,
            'invalid_request_error',
            'Too many requests hit the API too quickly (an emulator fault).',
            'rate_limit',
          ),
        );
      }
      return errorReply(
        reply,
        new StripeApiError(fault.status, 'api_error', 'Stripe had an internal error (an emulator fault).'),
      );
    }
  });
  app.setErrorHandler((error, _request, reply) =>
    errorReply(
      reply,
      error instanceof StripeApiError
        ? error
        : new StripeApiError(500, 'api_error', 'The emulator failed to handle the request.'),
    ),
  );
  app.setNotFoundHandler((request, reply) =>
    errorReply(
      reply,
      new StripeApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${request.method}: ${request.url}).`,
      ),
    ),
  );

  const paramsOf = (request: FastifyRequest): Params =>
    request.method === 'GET' || request.method === 'DELETE'
      ? (qs.parse(request.url.split('?')[1] ?? '', { depth: 10, arrayLimit: 1000 }) as Params)
      : ((request.body as Params | undefined) ?? {});

  /** Runs a mutation once per `Idempotency-Key`: a retry gets the first answer back. */
  const mutation =
    (handler: (params: Params, context: RequestContext, request: FastifyRequest) => unknown) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const params = paramsOf(request);
      const key = request.headers['idempotency-key'];
      const idempotencyKey = typeof key === 'string' ? key : null;
      const fingerprint = paramsFingerprint(request.method, request.url, params);
      if (idempotencyKey) {
        const earlier = idempotency.get(idempotencyKey);
        if (earlier) {
          if (earlier.fingerprint !== fingerprint) {
            throw new StripeApiError(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            );
          }
          reply.header('idempotent-replayed', 'true');
          return reply.status(earlier.status).send(earlier.body);
        }
      }
      const context = { requestId: String(reply.getHeader('request-id')), idempotencyKey };
      let body: unknown;
      try {
        body = handler(params, context, request);
      } catch (error) {
        // A declined card is an answer given after the request ran: a retry gets it again, as
        // with Stripe, instead of charging the card a second time.
        if (error instanceof StripeApiError && error.type === 'card_error') {
          stateFile?.changed();
          if (idempotencyKey) {
            idempotency.set(idempotencyKey, { fingerprint, status: error.status, body: errorBody(error) });
          }
        }
        throw error;
      }
      stateFile?.changed();
      if (idempotencyKey) idempotency.set(idempotencyKey, { fingerprint, status: 200, body });
      return reply.status(200).send(body);
    };

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
    app.get(base, async (request) => {
      const params = paramsOf(request);
      const page = listPage(
        newestFirst(store.collection(resource.type).values()).map((record) =>
          withoutSecrets(resource, record),
        ),
        params,
        base,
        matches ? (record) => matches(record, params) : undefined,
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
    id: 'acct_emulator',
    object: 'account',
    business_profile: { name: 'Payfold emulator' },
    charges_enabled: true,
    country: 'US',
    default_currency: 'usd',
    details_submitted: true,
    payouts_enabled: true,
    type: 'standard',
  }));

  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  return {
    url: address,
    store,
    forwardSecret,
    settled: async () => {
      while (deliveries.size > 0) await Promise.allSettled([...deliveries]);
    },
    helpers: watched(testHelpers(store), () => stateFile?.changed()),
    setFaults,
    dropped,
    injectedApiFaults,
    stop: async () => {
      await app.close();
      await stateFile?.flush();
    },
  };
};

/**
 * A state file: read at start when it exists; rewritten (to a temporary file, then renamed, so a
 * crash never leaves half a file) shortly after each change, and on stop.
 */
const openStateFile = async (file: string, store: EmulatorStore) => {
  if (existsSync(file)) store.restore(JSON.parse(await readFile(file, 'utf8')));
  let pending: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const write = () => {
    pending = undefined;
    writing = writing.then(async () => {
      await writeFile(`${file}.tmp`, JSON.stringify(store.snapshot()));
      await rename(`${file}.tmp`, file);
    });
    return writing;
  };
  return {
    changed: () => {
      pending ??= setTimeout(write, 100);
    },
    flush: async () => {
      if (pending) clearTimeout(pending);
      await write();
    },
  };
};

/** The API key of a request: a bearer token, or the user of Basic auth (`curl -u sk_test_…:`). */
const apiKeyOf = (authorization: string): string => {
  if (authorization.startsWith('Bearer ')) return authorization.slice('Bearer '.length);
  if (authorization.startsWith('Basic ')) {
    return Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8').split(':')[0] ?? '';
  }
  return '';
};

/** `customer.*` matches every customer event, as in Stripe's `types[]` filter. */
const matchesType = (pattern: string, type: string): boolean =>
  pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;
