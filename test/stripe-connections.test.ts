import { randomBytes } from 'node:crypto';
import { startEmulator } from 'payfold-stripe-emulator';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/adapters/postgres/embedded.js';
import { masterKeyId, openSecret, SecretUnreadableError, sealSecret } from '../src/adapters/secret-box.js';
import { StripeGateway } from '../src/adapters/stripe/gateway.js';
import { syncObjectKinds } from '../src/domain/sync-kinds.js';
import { StripeGatewayError } from '../src/ports/stripe.js';
import { createTestDatabase, eventually, type TestDatabase, urlWithoutPassword } from './support/database.js';
import { runPayfold, startTestServer, type TestServer, testMasterKey } from './support/server.js';
import { emulatorStripe, testConnections } from './support/stripe-access.js';

const logger = pino({ level: 'silent' });
const adminToken = 'admin-token-for-the-connection-tests';

describe('sealed secrets', () => {
  const masterKey = randomBytes(32);

  it('open with the master key and place that sealed them, and never look alike twice', () => {
    const sealed = sealSecret(masterKey, 'sk_test_secret', 'stripe_connections/test');
    expect(sealed).not.toContain('sk_test_secret');
    expect(sealed).not.toEqual(sealSecret(masterKey, 'sk_test_secret', 'stripe_connections/test'));
    expect(openSecret([masterKey], sealed, 'stripe_connections/test')).toBe('sk_test_secret');
  });

  it('refuse to open when altered, moved to another place, or sealed under another key', () => {
    const sealed = sealSecret(masterKey, 'sk_test_secret', 'stripe_connections/test');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4] as string, 'base64url');
    body[0] = (body[0] as number) ^ 1;
    const altered = [...parts.slice(0, 4), body.toString('base64url')].join('.');
    expect(() => openSecret([masterKey], altered, 'stripe_connections/test')).toThrow(/altered/);
    expect(() => openSecret([masterKey], sealed, 'stripe_connections/live')).toThrow(SecretUnreadableError);
    const other = randomBytes(32);
    expect(() => openSecret([other], sealed, 'stripe_connections/test')).toThrow(
      new RegExp(`another master key \\(${masterKeyId(masterKey)}\\)`),
    );
    // After a rotation, the previous key still opens what it sealed.
    expect(openSecret([other, masterKey], sealed, 'stripe_connections/test')).toBe('sk_test_secret');
  });
});

describe('the Stripe gateway', () => {
  it('retries 429s after their Retry-After and 5xx, with one idempotency key for the call', async () => {
    const emulator = await startEmulator({
      faults: {
        api: {
          seed: 3,
          faults: [
            { kind: 'rate_limit', share: 0.5, route: 'POST /v1/products', retryAfterSeconds: 1 },
            { kind: 'server_error', share: 0.3, route: 'POST /v1/products', status: 503 },
          ],
        },
      },
    });
    try {
      const gateway = new StripeGateway({ logger, apiBase: emulator.url, maxRetries: 8, retryBaseMs: 20 });
      const keys: string[] = [];
      const started = performance.now();
      const product = await gateway.call('test', 'sk_test_gateway', async ({ stripe, requestOptions }) => {
        stripe.once('request', (request: { idempotency_key?: string }) =>
          keys.push(request.idempotency_key ?? ''),
        );
        return stripe.products.create({ name: 'Retried' }, requestOptions);
      });
      const faults = emulator.injectedApiFaults.map((fault) => fault.kind);
      expect(faults).toContain('rate_limit');
      expect(keys).toHaveLength(faults.length + 1);
      expect(new Set(keys).size).toBe(1);
      // Each 429 asked for a second.
      expect(performance.now() - started).toBeGreaterThanOrEqual(
        faults.filter((kind) => kind === 'rate_limit').length * 1000,
      );
      const products = await gateway.call('test', 'sk_test_gateway', ({ stripe }) => stripe.products.list());
      expect(products.data.map((listed) => listed.id)).toEqual([product.id]);
    } finally {
      await emulator.stop();
    }
  }, 30_000);

  it('gives up on a refusal at once, in one line that does not quote the key', async () => {
    const emulator = await startEmulator();
    try {
      const gateway = new StripeGateway({ logger, apiBase: emulator.url });
      const refused = gateway.call('live', 'sk_live_not_for_the_emulator_1234', ({ stripe }) =>
        stripe.accounts.retrieveCurrent(),
      );
      await expect(refused).rejects.toThrow(StripeGatewayError);
      await expect(refused).rejects.toThrow('Stripe refused the key (invalid, expired or revoked)');
      expect(emulator.injectedApiFaults).toEqual([]);
    } finally {
      await emulator.stop();
    }
  });
});

// One admin's story in steps (connect, sync, switch accounts, remove): the order is the story.
describe('connecting Stripe over the admin API', { shuffle: false }, () => {
  let db: TestDatabase;
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  let server: TestServer;
  const key = 'sk_test_connection_key_that_must_never_show_9a7b';

  const admin = (path: string, init: RequestInit = {}, token = adminToken) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body !== undefined && { 'content-type': 'application/json' }),
      },
    });
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field below
  const json = async (response: Response): Promise<any> => response.json();

  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator({ accountId: 'acct_first' });
    server = await startTestServer(db.url, {
      PAYFOLD_ADMIN_TOKEN: adminToken,
      STRIPE_API_BASE: emulator.url,
    });
  });
  afterAll(async () => {
    await server.payfold.close();
    await emulator.stop();
    await db.drop();
  });

  it('answers no admin route without the right token', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/api/admin/projections'],
      ['GET', '/api/admin/payments/status'],
      ['PUT', '/api/admin/payments/config/test'],
      ['DELETE', '/api/admin/payments/config/test'],
      ['POST', '/api/admin/payments/sync'],
      ['POST', '/api/admin/payments/products'],
      ['PATCH', '/api/admin/payments/products/prod_1'],
      ['POST', '/api/admin/payments/products/prod_1/archive'],
      ['POST', '/api/admin/payments/prices'],
      ['POST', '/api/admin/payments/prices/price_1/archive'],
    ];
    for (const [method, route] of routes) {
      for (const authorization of [
        undefined,
        'Bearer wrong-token-of-the-same-length-xx',
        `Basic ${adminToken}`,
      ]) {
        const response = await fetch(`${server.url}${route}`, {
          method,
          headers: { ...(authorization && { authorization }), 'content-type': 'application/json' },
          ...(method !== 'GET' && method !== 'DELETE' && { body: JSON.stringify({ environment: 'test' }) }),
        });
        expect([method, route, authorization, response.status]).toEqual([method, route, authorization, 401]);
      }
    }
  });

  it('refuses callers without the admin token, and environments that do not exist', async () => {
    const body = JSON.stringify({ secretKey: key });
    expect((await admin('/api/admin/payments/config/test', { method: 'PUT', body }, 'wrong')).status).toBe(
      401,
    );
    const anonymous = await fetch(`${server.url}/api/admin/payments/status`);
    expect(anonymous.status).toBe(401);
    expect((await admin('/api/admin/payments/config/staging', { method: 'PUT', body })).status).toBe(404);
  });

  it('refuses a key of the other mode with one line, before asking Stripe', async () => {
    const response = await admin('/api/admin/payments/config/live', {
      method: 'PUT',
      body: JSON.stringify({ secretKey: key }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        code: 'invalid_key',
        message: 'a live key starts with sk_live_ (or rk_live_ for a restricted key)',
      },
    });
  });

  it('connects, shows the key masked, stores it sealed, logs the account and never the key', async () => {
    const response = await admin('/api/admin/payments/config/test', {
      method: 'PUT',
      body: JSON.stringify({ secretKey: key }),
    });
    expect(response.status).toBe(200);
    const answer = await json(response);
    expect(answer.connection).toMatchObject({
      environment: 'test',
      maskedKey: 'sk_test_…9a7b',
      accountId: 'acct_first',
      active: true,
    });
    expect(answer.firstSync).toBe('started');
    // The first sync runs after the answer: every kind is listed, then done.
    await eventually(async () => {
      const { syncs } = await json(await admin('/api/admin/payments/status'));
      expect(syncs.test.map((sync: { finishedAt: string | null }) => sync.finishedAt !== null)).toEqual(
        Array(syncObjectKinds.length).fill(true),
      );
    });

    const status = await json(await admin('/api/admin/payments/status'));
    expect(status.connections).toEqual([answer.connection]);
    expect(status.projections.map((projection: { name: string }) => projection.name).sort()).toEqual([
      'payments',
      'webhook_events',
    ]);

    const stored = await db.pool.query('select * from payfold.stripe_connections');
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0].secret_key_sealed).toMatch(/^v1\./);
    // Straight from the table: a reader of the log may not see an entry other transactions still hold back.
    const logged = (await db.pool.query('select type, data, metadata from payfold.events')).rows;
    const change = logged.find((entry) => entry.type === 'stripe.connection.changed');
    expect(change?.data).toEqual({ change: 'connected', account_id: 'acct_first', livemode: false });

    // Nowhere: not in the log, the tables, the answers or the server's log lines.
    const everything = [
      JSON.stringify(logged),
      JSON.stringify(stored.rows),
      JSON.stringify(answer),
      JSON.stringify(status),
      ...server.logLines,
    ].join('\n');
    expect(everything).not.toContain(key);
    expect(everything).not.toContain(key.slice(8, -4));
    expect(server.logLines.join('')).toMatch(/"path":"\/v1\/account","status":200/);
  });

  it('syncs the connected account over POST /api/admin/payments/sync', async () => {
    const bad = await admin('/api/admin/payments/sync', {
      method: 'POST',
      body: JSON.stringify({ environment: 'test', objects: ['planets'] }),
    });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toMatch(/^objects\.0: /);
    const response = await admin('/api/admin/payments/sync', {
      method: 'POST',
      body: JSON.stringify({ environment: 'all', objects: ['customer', 'product'] }),
    });
    expect(response.status).toBe(200);
    const { syncs } = await json(response);
    expect(syncs).toHaveLength(1);
    expect(syncs[0]).toMatchObject({
      environment: 'test',
      kinds: [
        { objectKind: 'customer', objects: 0, pages: 1, done: true },
        { objectKind: 'product', objects: 0, pages: 1, done: true },
      ],
    });
  });

  it('keeps a key of another account out unless forced, then says what it replaced', async () => {
    const other = await startEmulator({ accountId: 'acct_second' });
    try {
      const connections = testConnections(db, new StripeGateway({ logger, apiBase: other.url }));
      const refused = await connections.connect('test', 'sk_test_of_the_second_account');
      expect(refused).toMatchObject({ ok: false, refusal: { code: 'other_account', status: 409 } });
      expect(refused.ok === false && refused.refusal.message).toMatch(
        /test is connected to acct_first and this key belongs to acct_second/,
      );
      const forced = await connections.connect('test', 'sk_test_of_the_second_account', true);
      expect(forced).toMatchObject({
        ok: true,
        switchedFrom: 'acct_first',
        connection: { accountId: 'acct_second' },
      });
      expect(await connections.secretKey('test')).toBe('sk_test_of_the_second_account');
    } finally {
      await other.stop();
    }
  });

  it('deactivates a connection on DELETE, and records it', async () => {
    const response = await admin('/api/admin/payments/config/test', { method: 'DELETE' });
    expect(await response.json()).toEqual({ removed: true });
    const status = await json(await admin('/api/admin/payments/status'));
    expect(status.connections).toMatchObject([{ environment: 'test', active: false }]);
    expect(await (await admin('/api/admin/payments/config/test', { method: 'DELETE' })).json()).toEqual({
      removed: false,
    });
    const changes = await db.pool.query(
      "select data->>'change' as change from payfold.events where type = 'stripe.connection.changed' order by position",
    );
    expect(changes.rows.map((row) => row.change)).toEqual(['connected', 'connected', 'removed']);
  });
});

describe('payfold config and payfold status', { shuffle: false }, () => {
  let db: TestDatabase;
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  const payfold = (args: string[], input = '') =>
    runPayfold(args, { databaseUrl: db.url, stripeApiBase: emulator.url, input });

  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator({ accountId: 'acct_cli' });
  });
  afterAll(async () => {
    await emulator.stop();
    await db.drop();
  });

  it('connects with a key read from standard input, shows it masked, and removes it', async () => {
    const key = 'sk_test_typed_at_the_prompt_41c2';
    const set = await payfold(['config', 'set', 'test'], `${key}\n`);
    // A newly connected account is synced at once (the emulator's account is empty here).
    expect(set).toEqual({
      code: 0,
      out: [
        'test connected to acct_cli with sk_test_…41c2; first sync: 0 objects appended',
        'webhooks: set PAYFOLD_PUBLIC_URL for a managed endpoint, or forward webhooks to /api/webhooks/stripe/test (stripe listen --forward-to, or payfold emulator --forward-to)',
        // No payfold process runs here: the command projected what it appended itself.
        `tables: up to date in ${urlWithoutPassword(db.url)}`,
      ].join('\n'),
      err: '',
    });

    const status = await payfold(['--json', 'status']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.out);
    expect(parsed.connections).toMatchObject([
      { environment: 'test', accountId: 'acct_cli', maskedKey: 'sk_test_…41c2', active: true },
    ]);
    expect(parsed.syncs.test).toHaveLength(syncObjectKinds.length);
    expect(parsed.syncs.test.every((sync: { finishedAt: string | null }) => sync.finishedAt !== null)).toBe(
      true,
    );
    expect(status.out).not.toContain(key);

    expect(await payfold(['config', 'remove', 'test'])).toEqual({
      code: 0,
      out: 'test disconnected',
      err: '',
    });
    expect((await payfold(['status'])).out).toMatch(
      /^stripe test: removed acct_cli with sk_test_…41c2 since /,
    );
  }, 60_000);

  it('refuses a wrong key or environment with one line and exit code 1', async () => {
    expect(await payfold(['config', 'set', 'live', 'sk_test_wrong_mode_key'])).toEqual({
      code: 1,
      out: '',
      err: 'payfold: a live key starts with sk_live_ (or rk_live_ for a restricted key)',
    });
    expect(await payfold(['config', 'set', 'staging', 'sk_test_x'])).toMatchObject({
      code: 1,
      err: 'payfold: the environment is test or live, not staging',
    });
  }, 60_000);
});

describe('keys from the environment, and a master key rotation', () => {
  it('seeds an unconnected environment without overwriting a stored key, and seals again under a new master key', async () => {
    const db = await createTestDatabase();
    const emulator = await startEmulator({ accountId: 'acct_seeded' });
    const newMasterKey = randomBytes(32);
    try {
      const first = await startTestServer(db.url, {
        STRIPE_API_BASE: emulator.url,
        STRIPE_SECRET_KEY_TEST: 'sk_test_seeded_first_1111',
      });
      await first.payfold.close();
      const second = await startTestServer(db.url, {
        STRIPE_API_BASE: emulator.url,
        STRIPE_SECRET_KEY_TEST: 'sk_test_seeded_later_2222',
        PAYFOLD_MASTER_KEY: newMasterKey.toString('hex'),
        PAYFOLD_MASTER_KEY_PREVIOUS: testMasterKey,
      });
      await second.payfold.close();
      const { rows } = await db.pool.query(
        'select masked_key, secret_key_sealed from payfold.stripe_connections',
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].masked_key).toBe('sk_test_…1111');
      expect(rows[0].secret_key_sealed.split('.')[1]).toBe(masterKeyId(newMasterKey));
      expect(openSecret([newMasterKey], rows[0].secret_key_sealed, 'stripe_connections/test')).toBe(
        'sk_test_seeded_first_1111',
      );
    } finally {
      await emulator.stop();
      await db.drop();
    }
  }, 60_000);
});

describe('a managed webhook endpoint (PAYFOLD_PUBLIC_URL)', () => {
  it('is created in the account on connect, replaced on the next, and its deliveries land', async () => {
    const db = await createTestDatabase();
    const emulator = await startEmulator({ accountId: 'acct_managed' });
    const port = await freePort();
    const server = await startTestServer(db.url, {
      PAYFOLD_ADMIN_TOKEN: adminToken,
      STRIPE_API_BASE: emulator.url,
      PORT: String(port),
      PAYFOLD_PUBLIC_URL: `http://127.0.0.1:${port}`,
    });
    const stripe = emulatorStripe(emulator, 'sk_test_looking');
    const connect = async () =>
      (
        await fetch(`${server.url}/api/admin/payments/config/test`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ secretKey: 'sk_test_managed_endpoint_key' }),
        })
      ).json() as Promise<{ webhook: unknown; connection: { webhook: { endpointId: string } } }>;
    try {
      const first = await connect();
      expect(first.webhook).toEqual({
        managed: true,
        url: `http://127.0.0.1:${port}/api/webhooks/stripe/test`,
      });
      const second = await connect();
      const endpoints = (await stripe.webhookEndpoints.list()).data;
      expect(endpoints.map((endpoint) => endpoint.id)).toEqual([second.connection.webhook.endpointId]);
      expect(endpoints[0]).toMatchObject({
        url: `http://127.0.0.1:${port}/api/webhooks/stripe/test`,
        metadata: { payfold_managed: 'true', payfold_environment: 'test' },
      });
      expect(endpoints[0]?.enabled_events).toContain('customer.subscription.updated');

      // As Stripe has it now: enabled, then disabled (Stripe disables an endpoint that keeps failing).
      const endpointStatus = async () =>
        (
          await fetch(`${server.url}/api/admin/payments/config/test/webhook-endpoint`, {
            headers: { authorization: `Bearer ${adminToken}` },
          })
        ).json() as Promise<{ endpoint: { status: string } | null }>;
      expect(await endpointStatus()).toEqual({
        endpoint: {
          endpointId: second.connection.webhook.endpointId,
          url: `http://127.0.0.1:${port}/api/webhooks/stripe/test`,
          status: 'enabled',
          enabledEvents: endpoints[0]?.enabled_events,
        },
      });
      await stripe.webhookEndpoints.update(second.connection.webhook.endpointId, { disabled: true });
      expect((await endpointStatus()).endpoint?.status).toBe('disabled');
      await stripe.webhookEndpoints.update(second.connection.webhook.endpointId, { disabled: false });

      // Stripe signs with the endpoint's own secret, which only the stored connection knows.
      const customer = await stripe.customers.create({ email: 'managed@example.test' });
      await emulator.settled();
      await server.payfold.runner.catchUp();
      const { rows } = await db.pool.query('select email from payments.customers where customer_id = $1', [
        customer.id,
      ]);
      expect(rows).toEqual([{ email: 'managed@example.test' }]);
      const stored = await db.pool.query('select webhook_secret_sealed from payfold.stripe_connections');
      expect(stored.rows[0].webhook_secret_sealed).toMatch(/^v1\./);

      // Removing the connection removes the endpoint it made.
      const removed = await fetch(`${server.url}/api/admin/payments/config/test`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(await removed.json()).toEqual({ removed: true });
      expect((await stripe.webhookEndpoints.list()).data).toEqual([]);
      expect(await endpointStatus()).toEqual({ endpoint: null });
    } finally {
      await server.payfold.close();
      await emulator.stop();
      await db.drop();
    }
  }, 60_000);
});

describe('a restricted key', () => {
  it('connects when it can read what sync reads, and is refused naming the first it cannot', async () => {
    const db = await createTestDatabase();
    const everything = [
      '/v1/account',
      '/v1/products',
      '/v1/prices',
      '/v1/customers',
      '/v1/subscriptions',
      '/v1/invoices',
      '/v1/payment_intents',
      '/v1/charges',
      '/v1/refunds',
      '/v1/disputes',
      '/v1/checkout/sessions',
      '/v1/setup_intents',
      '/v1/entitlements',
      '/v1/radar/early_fraud_warnings',
      '/v1/credit_notes',
      '/v1/coupons',
      '/v1/promotion_codes',
      '/v1/subscription_schedules',
    ];
    const emulator = await startEmulator({
      accountId: 'acct_restricted',
      restrictedKeys: {
        rk_test_reads_all: everything,
        rk_test_no_prices: everything.filter((path) => path !== '/v1/prices'),
        rk_test_no_entitlements: everything.filter((path) => path !== '/v1/entitlements'),
      },
    });
    try {
      const connections = testConnections(db, new StripeGateway({ logger, apiBase: emulator.url }));
      expect(await connections.connect('test', 'rk_test_no_prices')).toEqual({
        ok: false,
        refusal: {
          code: 'insufficient_permissions',
          status: 400,
          message: 'the restricted key cannot read prices: give it read access',
        },
      });
      expect(await connections.list()).toEqual([]);
      // Entitlements are read per customer too: checked on the newest customer.
      await emulatorStripe(emulator).customers.create({ email: 'someone@example.com' });
      expect(await connections.connect('test', 'rk_test_no_entitlements')).toMatchObject({
        ok: false,
        refusal: { message: 'the restricted key cannot read entitlement features: give it read access' },
      });
      expect(await connections.connect('test', 'rk_test_reads_all')).toMatchObject({
        ok: true,
        connection: { maskedKey: 'rk_test_…_all', accountId: 'acct_restricted' },
      });
    } finally {
      await emulator.stop();
      await db.drop();
    }
  });

  it('is checked through rate limits, each of its twenty-odd reads retried on its own', async () => {
    const db = await createTestDatabase();
    const emulator = await startEmulator({
      accountId: 'acct_restricted_busy',
      restrictedKeys: { rk_test_reads_all: ['/v1/'] },
      // Half of all reads refused: a check retried whole would need all of them to pass at once.
      faults: {
        api: {
          seed: 9,
          faults: [{ kind: 'rate_limit', share: 0.5, route: 'GET /v1/', retryAfterSeconds: 0 }],
        },
      },
    });
    try {
      await emulatorStripe(emulator).customers.create({ email: 'someone@example.com' });
      const gateway = new StripeGateway({ logger, apiBase: emulator.url, maxRetries: 12, retryBaseMs: 0 });
      expect(await testConnections(db, gateway).connect('test', 'rk_test_reads_all')).toMatchObject({
        ok: true,
        connection: { accountId: 'acct_restricted_busy' },
      });
      expect(emulator.injectedApiFaults.length).toBeGreaterThan(10);
    } finally {
      await emulator.stop();
      await db.drop();
    }
  });
});
