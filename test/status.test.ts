import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  postWebhook,
  startTestServer,
  type TestServer,
  testMasterKey,
  testWebhookSecret,
} from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-tests-0123456789';
const payfoldBin = path.resolve(import.meta.dirname, '../bin/payfold.js');

describe('projection status: admin API, payfold status, metrics', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { PAYFOLD_ADMIN_TOKEN: adminToken });
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    if (!fixture) throw new Error('fixture missing');
    // One entry the payments projector cannot read: a customer whose email is a number.
    const broken = freshEvent(fixture);
    Object.assign(broken.data.object, { id: 'cus_broken', email: 42 });
    for (const event of [freshEvent(fixture), broken]) {
      const body = JSON.stringify(event);
      await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) });
    }
    await server.payfold.runner.catchUp();
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('GET /api/admin/projections needs the admin token', async () => {
    expect((await fetch(`${server.url}/api/admin/projections`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/api/admin/projections`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it('GET /api/admin/projections shows checkpoints, lag and the parked entry with its error', async () => {
    const response = await fetch(`${server.url}/api/admin/projections`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { projections: unknown; parkedEntries: unknown };
    expect(body.projections).toEqual([
      expect.objectContaining({ name: 'payments', behind: 0, parkedEntries: 1 }),
      expect.objectContaining({ name: 'webhook_events', behind: 0, parkedEntries: 0 }),
    ]);
    expect(body.parkedEntries).toEqual([
      expect.objectContaining({
        projection: 'payments',
        entryType: 'stripe.event',
        error: 'unreadable Stripe object: email: Invalid input: expected string, received number',
      }),
    ]);
  });

  it('the admin API is off (503) when no admin token is configured', async () => {
    const off = await startTestServer(db.url);
    try {
      expect((await fetch(`${off.url}/api/admin/projections`)).status).toBe(503);
    } finally {
      await off.payfold.close();
    }
  });

  it('/metrics shows each projection lag and parked entries', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('payfold_projection_lag_entries{projection="payments"} 0');
    expect(text).toContain('payfold_projection_parked_entries{projection="payments"} 1');
    expect(text).toContain('payfold_projection_errors_total{projection="payments"} 1');
  });

  it('/metrics shows how long the oldest open transaction has held the projections back', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select pg_current_xact_id()');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const seconds = Number(/^payfold_oldest_transaction_seconds (\S+)$/m.exec(text)?.[1]);
      expect(seconds).toBeGreaterThanOrEqual(1);
    } finally {
      await holder.query('rollback');
      holder.release();
    }
  });

  it('payfold status --json prints the same', () => {
    const result = spawnSync(process.execPath, [payfoldBin, 'status', '--json'], {
      env: { ...process.env, DATABASE_URL: db.url, PAYFOLD_MASTER_KEY: testMasterKey },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status.logHeadPosition).toBe(2);
    expect(status.projections).toEqual([
      expect.objectContaining({ name: 'payments', position: 2, behind: 0, parkedEntries: 1 }),
      expect.objectContaining({ name: 'webhook_events', position: 2, behind: 0, parkedEntries: 0 }),
    ]);
  });

  it('health and metrics ask through connections of their own: a stuck status query cannot take the door with it', async () => {
    const holder = await db.pool.connect();
    try {
      // Every status query that counts parked entries now waits on this lock.
      await holder.query('begin');
      await holder.query('lock table payfold.projection_errors in access exclusive mode');
      const probes = await Promise.all(Array.from({ length: 4 }, () => fetch(`${server.url}/readyz`)));
      expect(probes.map((probe) => probe.status)).toEqual([503, 503, 503, 503]);
      // Meanwhile webhooks are stored and answered as ever.
      const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
      const event = freshEvent(fixture as NonNullable<typeof fixture>);
      const body = JSON.stringify(event);
      const answer = await postWebhook(server.url, 'test', body, {
        'stripe-signature': sign(body, testWebhookSecret),
      });
      expect(answer.status).toBe(200);
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    // The stuck statements were cut off, and their connections came back.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  }, 30_000);
});
