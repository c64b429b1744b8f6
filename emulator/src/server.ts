import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import qs from 'qs';
import { apiFaultsHook } from './api-faults.js';
import { knownApiVersion } from './api-version.js';
import { refusedApiKey } from './auth.js';
import { type DeliveryOptions, type DroppedDelivery, deliverEmittedEvents } from './delivery.js';
import { followEarlyFraudWarnings } from './early-fraud-warnings.js';
import { followEntitlements } from './entitlements.js';
import { apiFaultPicker, deliveryPlanner, type Faults, faultsSchema } from './faults.js';
import { type TestHelpers, testHelpers } from './helpers.js';
import { idempotentMutations } from './idempotency.js';
import { type Params, replyWithStripeError, StripeApiError } from './params.js';
import { settleLater } from './payments.js';
import { faultsRoute, registerApiRoutes } from './routes.js';
import { openStateFile } from './state-file.js';
import { EmulatorStore, emulatorApiVersion, type StoreOptions, stripeId } from './store.js';
import { refuseUnknownParameters } from './stripe-shapes/parameters.js';

export type { DroppedDelivery } from './delivery.js';

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
  /** The account's id (default `acct_emulator`): two emulators with different ids are two accounts. */
  accountId?: string;
  /** Restricted keys (`rk_test_…`) and the only API paths each may call, for permission tests. */
  restrictedKeys?: Readonly<Record<string, readonly string[]>>;
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
  /**
   * Where events are forwarded from now on: for a receiver that must know the emulator's URL
   * before it starts, so that neither has to pick a port in advance.
   */
  forwardTo(url: string): void;
  /** The deliveries delivery faults dropped, oldest first. */
  dropped: DroppedDelivery[];
  /** The API faults that hit a call, oldest first (`POST /v1/refunds`, `rate_limit`). */
  injectedApiFaults: Array<{ call: string; kind: string }>;
  stop(): Promise<void>;
}

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

const paramsOf = (request: FastifyRequest): Params =>
  request.method === 'GET' || request.method === 'DELETE'
    ? (qs.parse(request.url.split('?')[1] ?? '', { depth: 10, arrayLimit: 1000 }) as Params)
    : ((request.body as Params | undefined) ?? {});

/**
 * A local Stripe for tests, development and the demo: the part of the API Payfold and its users
 * touch, spoken the way the real `stripe` package speaks it (form-encoded bodies with brackets,
 * Stripe-shaped JSON and errors, `Idempotency-Key`, list cursors), emitting the events Stripe
 * emits and delivering them, signed, to the webhook endpoints created through it.
 */
export const startEmulator = async (options: EmulatorOptions = {}): Promise<RunningEmulator> => {
  const store = new EmulatorStore(options.store);
  followEntitlements(store);
  followEarlyFraudWarnings(store);
  const stateFile = options.stateFile ? await openStateFile(options.stateFile, store) : undefined;
  // Charges a stopped emulator had not settled yet get their balance transactions now.
  for (const charge of store.all('charge')) {
    if (charge.status === 'succeeded' && !charge.balance_transaction)
      settleLater({ store, context: { requestId: null, idempotencyKey: null } }, charge);
  }
  const changed = () => stateFile?.changed();
  const forwardSecret = options.forwardSecret ?? `whsec_${randomBytes(24).toString('hex')}`;
  const injectedApiFaults: RunningEmulator['injectedApiFaults'] = [];
  let planDelivery = deliveryPlanner(null);
  let pickApiFaults = apiFaultPicker(null);
  const setFaults = (faults: Faults) => {
    const settings = faultsSchema.parse(faults);
    planDelivery = deliveryPlanner(settings.delivery);
    pickApiFaults = apiFaultPicker(settings.api);
  };
  setFaults(options.faults ?? {});
  const injectApiFaults = apiFaultsHook((call) => pickApiFaults(call), injectedApiFaults);
  const delivery = {
    forwardTo: options.forwardTo,
    forwardSecret,
    delivery: options.delivery,
    planDelivery: () => planDelivery(),
  };
  const deliveries = deliverEmittedEvents(store, delivery);

  const app: FastifyInstance = Fastify({ logController: new LogController({ disableRequestLogging: true }) });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
    done(null, qs.parse(String(body), { depth: 10, arrayLimit: 1000, parameterLimit: 10_000 })),
  );
  app.addHook('onRequest', async (request, reply) => {
    reply.header('date', new Date().toUTCString());
    reply.header('request-id', stripeId('req'));
    reply.header('stripe-version', emulatorApiVersion);
    const version = request.headers['stripe-version'];
    if (typeof version === 'string') {
      try {
        knownApiVersion(version);
      } catch (error) {
        return replyWithStripeError(reply, error as StripeApiError);
      }
    }
    const refused = refusedApiKey(request.headers.authorization, request.url, options.restrictedKeys);
    if (refused) return replyWithStripeError(reply, refused);
    if (request.url.startsWith(faultsRoute)) return;
    return injectApiFaults(request, reply);
  });
  // Checked before any handler runs: an unknown parameter changes nothing, as with Stripe.
  app.addHook('preHandler', async (request) => {
    if (request.routeOptions.url)
      refuseUnknownParameters(request.method, request.routeOptions.url, paramsOf(request));
  });
  app.setErrorHandler((error, _request, reply) =>
    replyWithStripeError(
      reply,
      error instanceof StripeApiError
        ? error
        : new StripeApiError(500, 'api_error', 'The emulator failed to handle the request.'),
    ),
  );
  app.setNotFoundHandler((request, reply) =>
    replyWithStripeError(
      reply,
      new StripeApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${request.method}: ${request.url}).`,
      ),
    ),
  );
  registerApiRoutes(app, {
    store,
    paramsOf,
    mutation: idempotentMutations(paramsOf, changed),
    setFaults,
    accountId: options.accountId,
  });

  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  return {
    url: address,
    store,
    forwardSecret,
    // What Stripe does later (a charge's balance transaction) happens first, then its deliveries.
    settled: async () => {
      await store.laterDone();
      await deliveries.settled();
    },
    helpers: watched(testHelpers(store), changed),
    setFaults,
    forwardTo: (url: string) => {
      delivery.forwardTo = url;
    },
    dropped: deliveries.dropped,
    injectedApiFaults,
    stop: async () => {
      store.cancelLater();
      await app.close();
      await stateFile?.flush();
    },
  };
};
