import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-privilege-tests';

describe('least privilege: serving as a role that does not own the log', () => {
  let db: TestDatabase;
  let server: TestServer;
  let servingUrl: string;
  const role = `payfold_serving_${randomBytes(4).toString('hex')}`;

  const asServing = async <T>(run: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: servingUrl });
    await client.connect();
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  };
  const refusal = (sql: string) =>
    asServing(async (client) => {
      try {
        await client.query(sql);
        return 'allowed';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`create role ${role} login password 'serving-password'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'serving-password';
    servingUrl = url.toString();
    // Migrations as the owner (here the test cluster's superuser), serving as the new role.
    server = await startTestServer(servingUrl, {
      PAYFOLD_MIGRATION_DATABASE_URL: db.url,
      PAYFOLD_ADMIN_TOKEN: adminToken,
    });
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
    const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    await admin.query(`drop role if exists ${role}`).catch(() => undefined);
    await admin.end();
  });

  it('stores and projects webhooks, and rebuilds, with the grants the migrations gave it', async () => {
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_served_by_a_lesser_role' } };
    const body = JSON.stringify(event);
    expect(
      (await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) }))
        .status,
    ).toBe(200);
    await eventually(async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from payments.customers where customer_id = 'cus_served_by_a_lesser_role'",
      );
      expect(rows).toEqual([{ n: 1 }]);
    });
    const rebuilt = await fetch(`${server.url}/api/admin/projections/rebuild`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ quiet: true }),
    });
    expect(rebuilt.status).toBe(200);
    expect(server.logLines.some((line) => line.includes('owns payfold.events'))).toBe(false);
  });

  it('can read and append the log, and nothing more: no update, no delete, no disabling its trigger', async () => {
    expect(await refusal('select count(*) from payfold.events')).toBe('allowed');
    expect(await refusal("update payfold.events set type = 'rewritten'")).toBe('42501');
    expect(await refusal('delete from payfold.events')).toBe('42501');
    expect(await refusal('alter table payfold.events disable trigger events_append_only')).toBe('42501');
    expect(await refusal('truncate payfold.events')).toBe('42501');
  });

  it('switches the change stream (payfold change-stream) though it owns no payments table', async () => {
    expect(await refusal('alter table payments.customers disable trigger payfold_capture_inserts')).toBe(
      '42501',
    );
    const isOn = async () => (await db.pool.query('select payfold.change_stream_is_on() as on')).rows[0].on;
    expect(await refusal('select payfold.switch_change_stream(false)')).toBe('allowed');
    expect(await isOn()).toBe(false);
    expect(await refusal('select payfold.switch_change_stream(true)')).toBe('allowed');
    expect(await isOn()).toBe(true);
  });

  it('warns at start when the role serving traffic owns the log', async () => {
    const owner = await startTestServer(db.url);
    try {
      expect(owner.logLines.some((line) => line.includes('owns payfold.events'))).toBe(true);
    } finally {
      await owner.payfold.close();
    }
  });
});
