import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStart } from '../src/domain/event-log.js';
import { jsonNestingDepth } from '../src/domain/stripe-event.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { openapiObjects, projectedObjectTypes } from './support/openapi-objects.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEventId, sign } from './support/stripe-events.js';

const runs = Number(process.env.FC_RUNS ?? 30) * 2;

const nested = (depth: number): unknown => {
  let value: unknown = 'bottom';
  for (let level = 0; level < depth; level += 1) value = { a: value };
  return value;
};

const deeplyNestedMarker = '__nested_60000_levels__';
const deeplyNested = `${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}`;

/** What a hostile or broken sender could put in a field. */
const hostileValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constant(1e308),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constant('x'.repeat(200_000)),
  fc.constant(Array.from({ length: 10_000 }, (_, index) => index)),
  fc.constant(nested(64)),
  fc.constant(nested(3_000)),
  // Nesting too deep for JSON.stringify: written into the body as raw text (see below).
  fc.constant(deeplyNestedMarker),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }),
);

const mutationArbitrary = fc.record({
  type: fc.constantFrom(...projectedObjectTypes),
  changes: fc.array(fc.tuple(fc.nat(200), hostileValue), { minLength: 1, maxLength: 3 }),
  removals: fc.array(fc.nat(200), { maxLength: 2 }),
});

describe('signed events with arbitrary content in the fields projections read', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('are answered 2xx or a documented 4xx, never lost once acknowledged, and projected or parked with a one-line reason', async () => {
    const acknowledged: string[] = [];
    await fc.assert(
      fc.asyncProperty(mutationArbitrary, async ({ type: [objectType, eventType], changes, removals }) => {
        const object: Record<string, unknown> = {
          ...(openapiObjects[objectType] as Record<string, unknown>),
        };
        const fields = Object.keys(object).filter((field) => field !== 'id' && field !== 'object');
        for (const [at, value] of changes) object[fields[at % fields.length] as string] = value;
        for (const at of removals) delete object[fields[at % fields.length] as string];
        object.id = `${String(object.id)}_${freshEventId()}`;
        const event = {
          id: freshEventId(),
          object: 'event',
          type: eventType,
          api_version: '2020-03-02',
          created: Math.floor(Date.now() / 1000),
          livemode: false,
          data: { object },
        };
        const body = JSON.stringify(event).replace(`"${deeplyNestedMarker}"`, deeplyNested);
        const answer = await postWebhook(server.url, 'test', body, {
          'stripe-signature': sign(body, testWebhookSecret),
        });
        expect([200, 400, 413], JSON.stringify(answer.body).slice(0, 300)).toContain(answer.status);
        if (answer.status === 200) acknowledged.push(event.id);
      }),
      { numRuns: runs },
    );
    // The server still serves, and the projections reach the head of the log.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await server.payfold.runner.catchUp();
    const entries = await db.log.readAll(logStart, 100_000);
    const logged = new Set(entries.map((entry) => (entry.data as { id: string }).id));
    expect(acknowledged.filter((id) => !logged.has(id))).toEqual([]);
    const { rows } = await db.pool.query<{ error: string }>('select error from payfold.projection_errors');
    for (const { error } of rows) {
      expect(error).not.toContain('\n');
      expect(error.length).toBeLessThan(2_000);
    }
    const { rows: behind } = await db.pool.query(
      "select count(*)::int as n from payfold.events e, payfold.projection_checkpoints c where c.projection = 'payments' and (e.transaction_id, e.position) > (c.transaction_id, c.position)",
    );
    expect(behind).toEqual([{ n: 0 }]);
  }, 180_000);

  it('refuses a body nested deeper than Postgres would store, before anything is written', async () => {
    expect(jsonNestingDepth('{"a":["[[[{", {"b": "]}\\"{"}]}')).toBe(3);
    const event = {
      id: freshEventId(),
      object: 'event',
      type: 'customer.updated',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object: { id: 'cus_deep', object: 'customer', metadata: deeplyNestedMarker } },
    };
    const body = JSON.stringify(event).replace(`"${deeplyNestedMarker}"`, deeplyNested);
    const answer = await postWebhook(server.url, 'test', body, {
      'stripe-signature': sign(body, testWebhookSecret),
    });
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'too_deeply_nested' } } });
    const { rows } = await db.pool.query(
      'select count(*)::int as n from payfold.events where dedupe_key = $1',
      [`stripe.event/test/${event.id}`],
    );
    expect(rows).toEqual([{ n: 0 }]);
  });
});
