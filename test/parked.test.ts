import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import {
  postWebhook,
  runPayfold,
  startTestServer,
  type TestServer,
  testWebhookSecret,
} from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-parked-tests';

describe('parked entries, as an operator meets them', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { PAYFOLD_ADMIN_TOKEN: adminToken });
    // A customer whose email is a number: no API version sends that, so it is parked, not guessed at.
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    if (!fixture) throw new Error('no customer.updated fixture');
    const event = freshEvent(fixture, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_unreadable', email: 42 } };
    const body = JSON.stringify(event);
    expect(
      (await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) }))
        .status,
    ).toBe(200);
    await eventually(async () => {
      const { rows } = await db.pool.query('select count(*)::int as n from payfold.projection_errors');
      expect(rows).toEqual([{ n: 1 }]);
    });
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('counts them in /readyz, which stays ready: parking is not an outage', async () => {
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', parkedEntries: 1 });
  });

  it('retries them through the admin route and the command; one that still fails stays parked', async () => {
    const response = await fetch(`${server.url}/api/admin/projections/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ projections: ['payments'] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      retries: [{ projection: 'payments', retried: 1, applied: 0, stillParked: 1 }],
    });
    const command = await runPayfold(['--json', 'projections', 'retry'], {
      databaseUrl: db.url,
      stripeApiBase: 'http://127.0.0.1:9',
    });
    expect(command.code, command.err).toBe(0);
    expect(JSON.parse(command.out).retries).toEqual(
      expect.arrayContaining([{ projection: 'payments', retried: 1, applied: 0, stillParked: 1 }]),
    );
    const { rows } = await db.pool.query('select error from payfold.projection_errors');
    expect(rows).toEqual([{ error: expect.stringMatching(/^unreadable Stripe object: email: /) }]);
  });
});
