import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startTestServer, type TestServer } from './support/server.js';

describe('GET /docs', () => {
  let db: TestDatabase;
  let server: TestServer;
  // biome-ignore lint/suspicious/noExplicitAny: the document is checked field by field
  let document: any;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    const response = await fetch(`${server.url}/docs`);
    expect(response.status).toBe(200);
    document = await response.json();
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('describes every route the server registered, public and admin', () => {
    const routes = server.payfold.app.registeredRoutes;
    expect(routes.length).toBeGreaterThan(15);
    for (const { method, url } of routes) {
      const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(document.paths[path]?.[method], `${method.toUpperCase()} ${url}`).toMatchObject({
        summary: expect.any(String),
        responses: expect.any(Object),
      });
    }
    expect(document.openapi).toBe('3.1.0');
  });

  it('takes its request bodies from the schemas that validate them', () => {
    const checkout = document.paths['/api/payments/checkout-sessions'].post;
    expect(checkout.security).toEqual([{ userToken: [] }]);
    const body = checkout.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(
      expect.arrayContaining(['environment', 'mode', 'subject', 'lineItems', 'successUrl', 'cancelUrl']),
    );
    expect(body.properties.lineItems).toMatchObject({ minItems: 1, maxItems: 100 });
    expect(body.properties.lineItems.items.properties.quantity).toMatchObject({ minimum: 1, maximum: 999 });
    expect(body.additionalProperties).toBe(false);
    const setKey = document.paths['/api/admin/payments/config/{environment}'].put;
    expect(setKey.security).toEqual([{ adminToken: [] }]);
    expect(setKey.parameters).toEqual([
      {
        name: 'environment',
        in: 'path',
        required: true,
        schema: expect.objectContaining({ enum: ['test', 'live'] }),
      },
    ]);
  });
});
