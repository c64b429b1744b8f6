import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LogEntry, logStart, stripeObjectFetchedLogEntry } from '../src/domain/event-log.js';
import { type Candidate, candidateOfStripeEvent } from '../src/domain/stripe/candidates.js';
import { chooseWinner, winningSnapshot } from '../src/domain/stripe/winner.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { entriesOf } from './support/projection-harness.js';
import type { GeneratedEvent } from './support/stripe-history.js';

const recordedAt = new Date(0);
const candidate = (
  type: string,
  created: number,
  object: Record<string, unknown>,
  options: { id?: string; previous?: Record<string, unknown> } = {},
): Candidate => {
  const result = candidateOfStripeEvent(
    'test',
    {
      id: options.id ?? `evt_${type}_${created}_${JSON.stringify(object).length}`,
      type,
      created,
      data: {
        object: { id: 'sub_1', object: 'subscription', ...object },
        previous_attributes: options.previous ?? null,
      },
    },
    recordedAt,
  );
  if (!result) throw new Error('no candidate');
  return result;
};

describe('what an event observes', () => {
  it('takes nothing from invoice.upcoming: its invoice is a preview that does not exist', () => {
    const preview = { id: 'upcoming_in_1', object: 'invoice', status: 'draft', customer: 'cus_1' };
    expect(
      candidateOfStripeEvent(
        'test',
        { id: 'evt_upcoming', type: 'invoice.upcoming', created: 100, data: { object: preview } },
        recordedAt,
      ),
    ).toBeUndefined();
    expect(
      candidateOfStripeEvent(
        'test',
        {
          id: 'evt_created',
          type: 'invoice.created',
          created: 100,
          data: { object: { ...preview, id: 'in_1' } },
        },
        recordedAt,
      ),
    ).toMatchObject({ objectType: 'invoice', objectId: 'in_1' });
  });
});

describe('the winner rule', () => {
  it('lets the latest second win outright, whatever the statuses', () => {
    const early = candidate('customer.subscription.deleted', 100, { status: 'canceled' });
    const late = candidate('customer.subscription.updated', 101, { status: 'active' });
    expect(chooseWinner([early, late])).toMatchObject({ winner: late, decidedBy: 'time' });
  });

  it('puts a *.created snapshot first in its second', () => {
    const created = candidate(
      'customer.subscription.created',
      100,
      { status: 'active', n: 1 },
      { id: 'evt_zzz' },
    );
    const updated = candidate(
      'customer.subscription.updated',
      100,
      { status: 'active', n: 2 },
      { id: 'evt_aaa' },
    );
    expect(chooseWinner([updated, created])).toMatchObject({ winner: updated, decidedBy: 'created' });
  });

  it('follows the previous_attributes chain before comparing statuses', () => {
    // An update that sets the status back: only the chain knows it is the later one.
    const first = candidate('customer.subscription.updated', 100, {
      status: 'past_due',
      cancel_at_period_end: false,
    });
    const second = candidate(
      'customer.subscription.updated',
      100,
      { status: 'active', cancel_at_period_end: false },
      { previous: { status: 'past_due' } },
    );
    expect(chooseWinner([second, first])).toMatchObject({ winner: second, decidedBy: 'previous_attributes' });
  });

  it('ranks by status progress, then by growing numbers, then by event id', () => {
    const incomplete = candidate('customer.subscription.updated', 100, { status: 'incomplete' });
    const active = candidate('customer.subscription.updated', 100, { status: 'active' });
    expect(chooseWinner([active, incomplete])).toMatchObject({ winner: active, decidedBy: 'status' });

    const invoice = (amountPaid: number, id: string, description = 'same') =>
      candidateOfStripeEvent(
        'test',
        {
          id,
          type: 'invoice.updated',
          created: 100,
          data: {
            object: { id: 'in_1', object: 'invoice', status: 'open', amount_paid: amountPaid, description },
          },
        },
        recordedAt,
      ) as Candidate;
    expect(chooseWinner([invoice(500, 'evt_b'), invoice(0, 'evt_a')])).toMatchObject({
      decidedBy: 'progress',
    });
    expect(chooseWinner([invoice(500, 'evt_b'), invoice(0, 'evt_a')])?.winner.eventId).toBe('evt_b');
    // Two events saying the same thing are one state, not a tie to re-fetch.
    expect(chooseWinner([invoice(5, 'evt_a'), invoice(5, 'evt_b')])).toMatchObject({
      decidedBy: 'identical',
    });
    expect(chooseWinner([invoice(5, 'evt_b'), invoice(5, 'evt_a')])?.winner.eventId).toBe('evt_b');
    const tie = chooseWinner([invoice(5, 'evt_a', 'one'), invoice(5, 'evt_b', 'other')]);
    expect(tie).toMatchObject({ decidedBy: 'event_id' });
    expect(tie?.winner.eventId).toBe('evt_b');
  });

  it('keeps a deletion final: the row keeps its last known fields, flagged deleted', () => {
    const deleted = candidateOfStripeEvent(
      'test',
      {
        id: 'evt_del',
        type: 'customer.deleted',
        created: 100,
        data: { object: { id: 'cus_1', object: 'customer', deleted: true } },
      },
      recordedAt,
    ) as Candidate;
    const later = candidateOfStripeEvent(
      'test',
      {
        id: 'evt_upd',
        type: 'customer.updated',
        created: 200,
        data: { object: { id: 'cus_1', object: 'customer', email: 'a@b.c' } },
      },
      recordedAt,
    ) as Candidate;
    expect(winningSnapshot([deleted, later])).toMatchObject({ deleted: true, snapshot: { email: 'a@b.c' } });
    expect(winningSnapshot([deleted])).toMatchObject({ deleted: true, snapshot: { deleted: true } });
  });

  it('chooses the same winner from any order of any group of candidates', () => {
    const statuses = ['incomplete', 'trialing', 'active', 'past_due', 'canceled', 'incomplete_expired'];
    const candidateArbitrary = fc
      .record({
        created: fc.integer({ min: 100, max: 102 }),
        isCreated: fc.boolean(),
        status: fc.constantFrom(...statuses),
        previousStatus: fc.option(fc.constantFrom(...statuses)),
        quantity: fc.integer({ min: 1, max: 3 }),
        eventId: fc.constantFrom('evt_a', 'evt_b', 'evt_c', 'evt_d', 'evt_e'),
      })
      .map((c) =>
        candidate(
          c.isCreated ? 'customer.subscription.created' : 'customer.subscription.updated',
          c.created,
          { status: c.status, quantity: c.quantity },
          {
            // An event id names one payload: whatever differs goes into it.
            id: `${c.eventId}_${c.created}_${c.isCreated}_${c.status}_${c.quantity}_${c.previousStatus}`,
            previous: c.previousStatus ? { status: c.previousStatus } : undefined,
          },
        ),
      );
    fc.assert(
      fc.property(
        fc
          .array(candidateArbitrary, { minLength: 1, maxLength: 8 })
          .chain((group) =>
            fc.tuple(
              fc.constant(group),
              fc.shuffledSubarray(group, { minLength: group.length, maxLength: group.length }),
            ),
          ),
        ([group, shuffled]) => {
          expect(chooseWinner(shuffled)?.winner.key).toBe(chooseWinner(group)?.winner.key);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('ties only an event id can break', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('are recorded in payfold.ambiguous_ties, for a re-fetch to settle', async () => {
    const update = (id: string, email: string): GeneratedEvent => ({
      id,
      object: 'event',
      type: 'customer.updated',
      api_version: '2020-08-27',
      created: 1_700_000_000,
      livemode: false,
      data: { object: { id: 'cus_tie', object: 'customer', email } },
    });
    const client = await db.pool.connect();
    try {
      await paymentsProjector.apply(
        client,
        entriesOf([update('evt_1', 'a@example.com'), update('evt_2', 'b@example.com')]),
      );
      const { rows } = await client.query(
        'select object_type, object_id, observed_at::int from payfold.ambiguous_ties',
      );
      expect(rows).toEqual([{ object_type: 'customer', object_id: 'cus_tie', observed_at: 1_700_000_000 }]);
      const customer = await client.query('select email from payments.customers');
      expect(customer.rows).toEqual([{ email: 'b@example.com' }]);
    } finally {
      client.release();
    }
  });
});

describe('the same state read twice', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('holds at the later read when the reads come in different batches, as the rebuild path says', async () => {
    const customer = { id: 'cus_read_twice', object: 'customer', email: 'same@example.com' };
    const reads = (
      [
        ['first', 1_700_000_000],
        ['again', 1_700_000_060],
      ] as const
    ).map(([fetchId, observedAt]) =>
      stripeObjectFetchedLogEntry('test', { fetchId, observedAt, object: customer }),
    );
    for (const read of reads) await db.log.append(read);
    // The log shows an entry once every older transaction in the cluster has ended.
    let entries: LogEntry[] = [];
    await eventually(async () => {
      entries = await db.log.readAll(logStart, 10);
      expect(entries.length).toBe(2);
    });
    const observedAt = async () =>
      (
        await db.pool.query<{ observed_at: number }>(
          'select extract(epoch from observed_at)::int as observed_at from payments.stripe_objects where object_id = $1',
          [customer.id],
        )
      ).rows;
    const client = await db.pool.connect();
    try {
      // Two batches: the second read arrives once the first is stored as a candidate.
      for (const entry of entries) await paymentsProjector.apply(client, [entry]);
      expect(await observedAt()).toEqual([{ observed_at: 1_700_000_060 }]);
      const { rows: stored } = await client.query(
        'select observed_at::int from payfold.stripe_object_candidates where object_id = $1',
        [customer.id],
      );
      expect(stored).toEqual([{ observed_at: 1_700_000_060 }]);
    } finally {
      client.release();
    }
    // The same log projected from empty checkpoints takes the rebuild path: the same winner.
    const rebuilt = await createTestDatabase();
    try {
      for (const read of reads) await rebuilt.log.append(read);
      await new ProjectionRunner({
        pool: rebuilt.pool,
        log: rebuilt.log,
        projectors: [paymentsProjector],
        logger: pino({ level: 'silent' }),
      }).catchUp();
      const { rows } = await rebuilt.pool.query(
        'select extract(epoch from observed_at)::int as observed_at from payments.stripe_objects',
      );
      expect(rows).toEqual([{ observed_at: 1_700_000_060 }]);
    } finally {
      await rebuilt.drop();
    }
  });
});
