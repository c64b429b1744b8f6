import Fastify from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import { replyWithError } from '../src/http/errors.js';
import { willAlwaysFail } from '../src/projections/engine/parked.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { projectors } from '../src/projections/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { freshEvent, loadEventFixtures } from './support/stripe-events.js';

const logger = pino({ level: 'silent' });

describe('an error that says nothing about the entry', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('is told apart from one that will always recur', () => {
    expect(willAlwaysFail(z.string().safeParse(1).error)).toBe(true);
    expect(willAlwaysFail(new Error('Checkout Session cs_1 has no status'))).toBe(true);
    expect(willAlwaysFail(Object.assign(new Error('invalid input syntax'), { code: '22P02' }))).toBe(true);
    for (const code of ['40P01', '40001', '55P03', '57014', '08006', 'P0001', '23502']) {
      expect(willAlwaysFail(Object.assign(new Error(code), { code })), code).toBe(false);
    }
  });

  it('from a user trigger on payments.*: nothing is parked, the checkpoint waits, and the row lands once it passes', async () => {
    await db.pool.query(`
      create table public.crm_fault (down boolean not null);
      insert into public.crm_fault values (true);
      create function public.notify_crm() returns trigger language plpgsql as $$
        begin
          if (select down from public.crm_fault) then raise exception 'the CRM is down'; end if;
          return null;
        end $$;
      create trigger notify_crm after insert or update on payments.customers
        for each row execute function public.notify_crm();`);
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    if (!fixture) throw new Error('no customer.updated fixture');
    const event = freshEvent(fixture, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_crm_down' } };
    await db.log.append(
      stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
    );
    const failures: string[] = [];
    const runner = new ProjectionRunner({
      pool: db.pool,
      log: db.log,
      projectors,
      logger,
      metrics: {
        batchApplied: () => undefined,
        entryParked: (projection) => failures.push(`parked ${projection}`),
        batchFailed: (projection) => failures.push(`failed ${projection}`),
      },
    });
    await runner.start();
    try {
      await eventually(async () => {
        expect(failures.filter((failure) => failure === 'failed payments').length).toBeGreaterThanOrEqual(2);
      });
      const customers = async () =>
        (
          await db.pool.query(
            "select count(*)::int as n from payments.customers where customer_id = 'cus_crm_down'",
          )
        ).rows[0].n;
      expect(await customers()).toBe(0);
      expect((await db.pool.query('select count(*)::int as n from payfold.projection_errors')).rows).toEqual([
        { n: 0 },
      ]);
      await db.pool.query('update public.crm_fault set down = false');
      await eventually(async () => {
        expect(await customers()).toBe(1);
      });
      expect(failures.some((failure) => failure.startsWith('parked'))).toBe(false);
    } finally {
      await runner.stop();
    }
  });
});

describe('a request that fails on the server', () => {
  const app = Fastify({ logger: false });
  let url: string;
  beforeAll(async () => {
    app.setErrorHandler(replyWithError);
    app.get('/unreadable', async () => z.object({ email: z.string() }).parse({ email: 12345 }));
    app.get('/database-restarting', async () => {
      throw Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      });
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app.close();
  });

  it('says a failure that would repeat cannot be retried, and shows no validation dump', async () => {
    const response = await fetch(`${url}/unreadable`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      error: {
        code: 'internal',
        message: 'Internal error: retrying will not help; the server log has the cause',
      },
    });
  });

  it('answers 503, retryable, while the database is unavailable for a moment', async () => {
    const response = await fetch(`${url}/database-restarting`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: {
        code: 'unavailable',
        message: 'The database is unavailable for a moment; the request can be retried',
      },
    });
  });
});
