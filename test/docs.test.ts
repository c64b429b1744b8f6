import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { type RunningEmulator, runDemoStory } from 'payfold-stripe-emulator';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, launchChromium, screenshot } from './support/browser.js';
import type { TestDatabase } from './support/database.js';
import { postWebhook, type TestServer } from './support/server.js';
import { emulatorForwardSecret, emulatorStripe, startServerWithEmulator } from './support/stripe-access.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-docs-tests';
const jwtSecret = 'a-jwt-secret-of-at-least-32-characters!';
const examplePolicies = readFileSync(
  path.resolve(import.meta.dirname, '../examples/session-policies.sql'),
  'utf8',
);
const chromium = await findChromium();
if ('skip' in chromium) console.warn(`API reference browser test skipped: ${chromium.skip}`);

// The steps build on each other: the answers checked are those of one account's story.
describe('/docs: the API reference, and every answer as it documents it', { shuffle: false }, () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;
  // biome-ignore lint/suspicious/noExplicitAny: the document is checked field by field
  let document: any;
  /** `METHOD /route/:param` of every route whose success answer a test parsed with its schema. */
  const checkedRoutes = new Set<string>();

  /** The schema a route documents for an answer of this status and content type. */
  const documentedSchema = (method: string, url: string, status: number, contentType: string) => {
    const answer = server.payfold.app.registeredRoutes.find(
      (route) => route.method === method && route.url === url,
    )?.doc?.responses[status];
    if (answer === undefined || typeof answer === 'string') return undefined;
    const mediaType = contentType.split(';')[0]?.trim() ?? '';
    if ('content' in answer) return answer.content[mediaType];
    const documented = answer.contentType ?? 'application/json';
    return documented === '*/*' || documented.split(';')[0] === mediaType ? answer.schema : undefined;
  };

  /** Parses a success with the schema `/docs` publishes for it: a field it does not name fails. */
  const expectDocumented = (
    method: string,
    url: string,
    status: number,
    contentType: string,
    body: unknown,
  ) => {
    const schema = documentedSchema(method, url, status, contentType);
    expect(schema, `${method} ${url} ${status} ${contentType} is documented with a schema`).toBeDefined();
    const parsed = schema?.safeParse(body);
    expect(parsed?.error?.issues ?? [], `${method} ${url} answers as documented`).toEqual([]);
    checkedRoutes.add(`${method} ${url}`);
  };

  /** Calls a route (`url` as registered, `path` as requested) and checks a success against `/docs`. */
  const call = async (
    method: string,
    url: string,
    options: { path?: string; body?: unknown; token?: string; accept?: string } = {},
  ) => {
    const token = options.token ?? adminToken;
    const response = await fetch(`${server.url}${options.path ?? url}`, {
      method: method.toUpperCase(),
      headers: {
        authorization: `Bearer ${token}`,
        ...(options.accept && { accept: options.accept }),
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    const body = type.startsWith('application/json') ? JSON.parse(text) : text;
    if (response.status < 300) expectDocumented(method, url, response.status, type, body);
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    return { status: response.status, body: body as any, type };
  };

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator(
      { PAYFOLD_ADMIN_TOKEN: adminToken, PAYFOLD_JWT_SECRET: jwtSecret },
      async (prepared) => {
        await prepared.pool.query(examplePolicies);
      },
    ));
    await runDemoStory(emulatorStripe(emulator), {
      afterStep: async () => {
        await emulator.settled();
        await server.payfold.runner.catchUp();
      },
    });
    document = (await call('get', '/docs/json')).body;
  });
  afterAll(async () => {
    await emulator?.stop();
    await server?.payfold.close();
    await db?.drop();
  });

  it('describes every route the server registered, public and admin, each success with its schema', () => {
    const routes = server.payfold.app.registeredRoutes;
    expect(routes.length).toBeGreaterThan(25);
    expect(document.openapi).toBe('3.1.0');
    for (const { method, url } of routes) {
      const operation = document.paths[url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[method];
      expect(operation, `${method.toUpperCase()} ${url}`).toMatchObject({ summary: expect.any(String) });
      const successes = Object.entries(operation.responses).filter(([status]) => status.startsWith('2'));
      expect(successes.length, `${method.toUpperCase()} ${url} has a success answer`).toBeGreaterThan(0);
      for (const [status, response] of successes) {
        const content = Object.values((response as { content?: object }).content ?? {});
        expect(content.length, `${method.toUpperCase()} ${url} ${status} has content`).toBeGreaterThan(0);
        for (const { schema } of content as Array<{ schema: { type?: string; anyOf?: unknown[] } }>) {
          expect(schema.type ?? schema.anyOf, `${method.toUpperCase()} ${url} ${status}`).toBeDefined();
        }
      }
    }
  });

  it('takes its request bodies from the schemas that validate them, and shows the answers', () => {
    const checkout = document.paths['/api/payments/checkout-sessions'].post;
    expect(checkout.security).toEqual([{ userToken: [] }]);
    expect(checkout.tags).toEqual(['Sessions']);
    const body = checkout.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(
      expect.arrayContaining(['environment', 'mode', 'subject', 'lineItems', 'successUrl', 'cancelUrl']),
    );
    expect(body.properties.lineItems).toMatchObject({ minItems: 1, maxItems: 100 });
    expect(body.properties.lineItems.items.properties.quantity).toMatchObject({ minimum: 1, maximum: 999 });
    expect(body.additionalProperties).toBe(false);
    const created = checkout.responses['201'].content['application/json'].schema;
    expect(created.properties.checkoutSession.properties.status).toMatchObject({
      enum: ['open', 'completed'],
    });
    const setKey = document.paths['/api/admin/payments/config/{environment}'].put;
    expect(setKey.security).toEqual([{ adminToken: [] }]);
    expect(setKey.tags).toEqual(['Admin']);
    expect(setKey.parameters).toEqual([
      {
        name: 'environment',
        in: 'path',
        required: true,
        schema: expect.objectContaining({ enum: ['test', 'live'] }),
      },
    ]);
    const reconcile =
      document.paths['/api/admin/reconcile'].post.responses['200'].content['application/json'];
    const drift = reconcile.schema.properties.report.properties.objects.items.properties;
    expect(Object.keys(drift)).toEqual(
      expect.arrayContaining(['missing', 'stale', 'informational', 'extra']),
    );
  });

  it('answers every public route as documented', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/dashboard', '/dashboard/']) {
      expect((await call('get', url)).status, url).toBe(200);
    }
    // A browser gets the page; curl or a client generator the document, as at /docs/json.
    const reference = await call('get', '/docs', { accept: 'text/html,application/xhtml+xml' });
    expect(reference.type).toMatch(/^text\/html/);
    expect(reference.body).toContain('<title>Payfold API</title>');
    expect((await call('get', '/docs', { accept: '*/*' })).body).toEqual(document);
    const page = await call('get', '/dashboard');
    const asset = /assets\/([^"]+\.js)"/.exec(page.body)?.[1];
    expect(
      (await call('get', '/dashboard/assets/:file', { path: `/dashboard/assets/${asset}` })).status,
    ).toBe(200);
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'product.created');
    const payload = JSON.stringify(freshEvent(fixture as NonNullable<typeof fixture>));
    const delivered = await postWebhook(server.url, 'test', payload, {
      'stripe-signature': sign(payload, emulatorForwardSecret),
    });
    expect(delivered.status).toBe(200);
    expect(delivered.body).toEqual({ received: true, duplicate: false });
    expectDocumented('post', '/api/webhooks/stripe/:environment', 200, 'application/json', delivered.body);
  });

  it('answers the session routes as documented', async () => {
    const connected = await call('put', '/api/admin/payments/config/:environment', {
      path: '/api/admin/payments/config/test',
      body: { secretKey: 'sk_test_docs' },
    });
    expect(connected.status).toBe(200);
    const ada = await new SignJWT({ sub: 'ada' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(jwtSecret));
    const { body: catalog } = await call('get', '/api/admin/payments/catalog', {
      path: '/api/admin/payments/catalog?environment=test',
    });
    const oneTime = catalog.products
      .flatMap((product: { prices: Array<{ price_id: string; type: string }> }) => product.prices)
      .find((price: { type: string }) => price.type === 'one_time');
    const checkout = await call('post', '/api/payments/checkout-sessions', {
      token: ada,
      body: {
        environment: 'test',
        mode: 'payment',
        subject: { type: 'user', id: 'ada' },
        lineItems: [{ stripePriceId: oneTime.price_id, quantity: 1 }],
        successUrl: 'https://app.example.com/done',
        cancelUrl: 'https://app.example.com/shop',
      },
    });
    expect(checkout.status).toBe(201);
    expect(checkout.body.checkoutSession.url).toMatch(/^http/);
    const portal = await call('post', '/api/payments/customer-portal-sessions', {
      token: ada,
      body: {
        environment: 'test',
        subject: { type: 'user', id: 'ada' },
        returnUrl: 'https://app.example.com',
      },
    });
    expect(portal.status).toBe(201);
  });

  it('answers every admin route as documented', async () => {
    const get = (url: string, query = '?environment=test', params: Record<string, string> = {}) =>
      call('get', url, {
        path: url.replace(/:([A-Za-z0-9_]+)/g, (_match, name: string) => params[name] ?? '') + query,
      });
    expect((await get('/api/admin/payments/status', '')).body.lastWebhooks.test).not.toBeNull();
    expect((await get('/api/admin/projections', '')).status).toBe(200);
    expect(
      (await get('/api/admin/payments/config/:environment/webhook-endpoint', '', { environment: 'test' }))
        .body,
    ).toEqual({ endpoint: null });
    const { body: found } = await get('/api/admin/payments/customers', '?environment=test&search=team:acme');
    const customerId = found.customers[0].customer_id;
    expect((await get('/api/admin/payments/customers/:customerId', undefined, { customerId })).status).toBe(
      200,
    );
    const subject = await get('/api/admin/payments/subjects/:subjectType/:subjectId', undefined, {
      subjectType: 'team',
      subjectId: 'acme',
    });
    expect(subject.body.overview.subscriptions[0].items).toHaveLength(1);
    expect((await get('/api/admin/webhooks')).body.deliveries.length).toBeGreaterThan(0);

    const post = (url: string, body: unknown, path = url) => call('post', url, { path, body });
    const product = await post('/api/admin/payments/products', { environment: 'test', name: 'Docs plan' });
    expect(product.body.object).toMatchObject({ object: 'product', name: 'Docs plan' });
    const productId = product.body.object.id;
    const updated = await call('patch', '/api/admin/payments/products/:id', {
      path: `/api/admin/payments/products/${productId}`,
      body: { environment: 'test', description: 'For the docs' },
    });
    expect(updated.status).toBe(200);
    const price = await post('/api/admin/payments/prices', {
      environment: 'test',
      product: productId,
      currency: 'usd',
      unitAmount: 500,
    });
    expect(price.body.object).toMatchObject({ object: 'price', unit_amount: 500 });
    const archivedPrice = await post(
      '/api/admin/payments/prices/:id/archive',
      { environment: 'test' },
      `/api/admin/payments/prices/${price.body.object.id}/archive`,
    );
    expect(archivedPrice.body.object.active).toBe(false);
    const archived = await post(
      '/api/admin/payments/products/:id/archive',
      { environment: 'test' },
      `/api/admin/payments/products/${productId}/archive`,
    );
    expect(archived.body.object.active).toBe(false);

    const sync = await post('/api/admin/payments/sync', { environment: 'test', objects: ['product'] });
    expect(sync.body.syncs[0].kinds[0]).toMatchObject({ objectKind: 'product', done: true });
    const reconcile = await post('/api/admin/reconcile', { environment: 'test', dryRun: true });
    expect(reconcile.body.report.dryRun).toBe(true);
  });

  it('answers the projection routes as documented, a parked entry among them', async () => {
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_unreadable', email: 12345 } };
    const payload = JSON.stringify(event);
    const delivered = await postWebhook(server.url, 'test', payload, {
      'stripe-signature': sign(payload, emulatorForwardSecret),
    });
    expect(delivered.status).toBe(200);
    await server.payfold.runner.catchUp();
    const { body: report } = await call('get', '/api/admin/projections');
    const parked = report.parkedEntries.find((entry: { error: string }) => entry.error.includes('email'));
    expect(parked.error).toBe(
      'unreadable Stripe object: email: Invalid input: expected string, received number',
    );

    const rebuild = await call('post', '/api/admin/projections/rebuild', {
      body: { projections: ['payments'] },
    });
    expect(
      rebuild.body.rebuilds[0].parkedEntries.map((entry: { position: number }) => entry.position),
    ).toEqual([parked.position]);
    expect((await call('post', '/api/admin/projections/retry', { body: {} })).body.retries).toContainEqual(
      expect.objectContaining({ projection: 'payments', stillParked: 1 }),
    );
    const dismiss = (undo: boolean) =>
      call('post', '/api/admin/projections/dismiss', { body: { positions: [parked.position], undo } });
    expect((await dismiss(false)).body).toEqual({ dismissed: [parked.position] });
    expect((await dismiss(true)).body).toEqual({ parkedAgain: [parked.position] });
  });

  it('removes a connection as documented, and every route was checked', async () => {
    const removed = await call('delete', '/api/admin/payments/config/:environment', {
      path: '/api/admin/payments/config/test',
    });
    expect(removed.body).toEqual({ removed: true });
    const routes = server.payfold.app.registeredRoutes.map(({ method, url }) => `${method} ${url}`);
    expect([...checkedRoutes].sort()).toEqual([...new Set(routes)].sort());
  });

  it.skipIf('skip' in chromium)(
    'renders /docs in a browser: every operation listed, nothing fetched elsewhere',
    async () => {
      let browser: Browser | undefined;
      try {
        browser = await launchChromium((chromium as { path: string }).path);
        const page = await browser.newPage();
        const elsewhere: string[] = [];
        const problems: string[] = [];
        page.on('request', (request) => {
          if (!request.url().startsWith(server.url) && !request.url().startsWith('data:'))
            elsewhere.push(request.url());
        });
        page.on('console', (message) => {
          if (message.type() === 'error') problems.push(message.text());
        });
        await page.goto(`${server.url}/docs`);
        try {
          await page.locator('.opblock').first().waitFor();
          const operations = Object.values(document.paths).flatMap((methods) =>
            Object.keys(methods as object),
          );
          expect(await page.locator('.opblock').count()).toBe(operations.length);
          await expect.poll(() => page.locator('.title').first().textContent()).toContain('Payfold');
          expect(elsewhere).toEqual([]);
          expect(problems).toEqual([]);
        } catch (error) {
          console.warn(`screenshot: ${await screenshot(page, 'api-reference')}`);
          throw error;
        }
      } finally {
        await browser?.close();
      }
    },
  );
});
