import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import type { Projector } from '../src/projections/engine/projector.js';
import { rebuildProjections } from '../src/projections/engine/rebuild.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
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
const logger = pino({ level: 'silent' });

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

  it('is dismissed by an admin: out of readiness and retries, in status, and parked again on undo', async () => {
    const admin = (route: string, body: unknown) =>
      fetch(`${server.url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const readiness = async () =>
      (await (await fetch(`${server.url}/readyz`)).json()) as { parkedEntries: number };
    const { rows } = await db.pool.query('select position::int as position from payfold.projection_errors');
    const position = rows[0].position as number;
    const dismissed = await admin('/api/admin/projections/dismiss', { positions: [position] });
    expect(await dismissed.json()).toEqual({ dismissed: [position] });
    expect((await readiness()).parkedEntries).toBe(0);
    expect(await (await admin('/api/admin/projections/retry', {})).json()).toEqual({
      retries: expect.arrayContaining([{ projection: 'payments', retried: 0, applied: 0, stillParked: 0 }]),
    });
    const unknown = await admin('/api/admin/projections/dismiss', { positions: [position + 1000] });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { code: 'not_parked', message: `No parked entry at position ${position + 1000}` },
    });
    await admin('/api/admin/projections/dismiss', { positions: [position], undo: true });
    expect((await readiness()).parkedEntries).toBe(1);
  });
});

describe('a parked entry after the projector is fixed', () => {
  it('is applied by the next rebuild and leaves the parked list', async () => {
    const db = await createTestDatabase();
    try {
      const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
      const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
      event.data = { ...event.data, object: { ...event.data.object, id: 'cus_fixable' } };
      await db.log.append(
        stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
      );
      // A projector version with a bug on this customer: the live runner parks the entry.
      const broken: Projector = {
        ...paymentsProjector,
        rebuild: undefined,
        async apply(client, entries) {
          const text = JSON.stringify(entries, (_key, value) =>
            typeof value === 'bigint' ? `${value}` : value,
          );
          if (text.includes('cus_fixable')) throw new Error('a bug in this version');
          await paymentsProjector.apply(client, entries);
        },
      };
      await new ProjectionRunner({ pool: db.pool, log: db.log, projectors: [broken], logger }).catchUp();
      const parked = async () =>
        (await db.pool.query('select error from payfold.projection_errors')).rows.map((row) => row.error);
      expect(await parked()).toEqual(['a bug in this version']);

      const [summary] = await rebuildProjections({
        pool: db.pool,
        log: db.log,
        logger,
        projectors: [paymentsProjector],
        reason: 'command',
      });
      expect(summary).toMatchObject({ unparked: 1, parkedEntries: [] });
      expect(await parked()).toEqual([]);
      expect(
        (await db.pool.query("select customer_id from payments.customers where customer_id = 'cus_fixable'"))
          .rows,
      ).toHaveLength(1);
    } finally {
      await db.drop();
    }
  });
});
