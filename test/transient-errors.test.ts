import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
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
