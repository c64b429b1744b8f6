import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHoldableJson, textPostgresCanHold } from '../src/domain/stripe/postgres-text.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

describe('payloads that are legal but odd: text Postgres cannot hold, Connect events', () => {
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

  it('lands as U+FFFD in the rows, while the log keeps the bytes Stripe signed', async () => {
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    if (!fixture) throw new Error('no customer.updated fixture');
    const event = freshEvent(fixture, { livemode: false });
    const customerId = `cus_unholdable_${Date.now()}`;
    event.data = {
      ...event.data,
      object: {
        ...event.data.object,
        id: customerId,
        name: 'Ada\u0000Lovelace',
        email: 'lone\ud800surrogate@example.com',
        metadata: { 'key\u0000': 'value\udc00' },
      },
    };
    // JSON.stringify writes both as escapes (\u0000, \ud800), as Stripe's payloads would carry them.
    const body = JSON.stringify(event);
    expect(body).toContain('\\u0000');
    expect(body).toContain('\\ud800');
    const answer = await postWebhook(server.url, 'test', body, {
      'stripe-signature': sign(body, testWebhookSecret),
    });
    expect(answer).toMatchObject({ status: 200, body: { received: true } });
    await eventually(async () => {
      const { rows } = await db.pool.query(
        'select name, email, metadata from payments.customers where customer_id = $1',
        [customerId],
      );
      expect(rows).toEqual([
        {
          name: 'Ada\uFFFDLovelace',
          email: 'lone\uFFFDsurrogate@example.com',
          metadata: { 'key\uFFFD': 'value\uFFFD' },
        },
      ]);
    });
    const { rows: logged } = await db.pool.query(
      'select data::text as data from payfold.events where dedupe_key = $1',
      [`stripe.event/test/${event.id}`],
    );
    expect(logged).toEqual([{ data: body }]);
    const { rows: parked } = await db.pool.query('select count(*)::int as n from payfold.projection_errors');
    expect(parked).toEqual([{ n: 0 }]);
  });

  it('leaves well-formed text, pairs included, as it is (the same object)', () => {
    const payload = { name: 'Zoë 😀', list: ['a', { b: 'c' }] };
    expect(textPostgresCanHold(payload)).toBe(payload);
    expect(textPostgresCanHold(['\ud83d'])).toEqual(['\uFFFD']);
  });

  it('holds any text: no NUL or lone surrogate is left, and text without one is the same object', () => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this finds
    const unholdable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    // Any UTF-16 unit: NUL, lone and paired surrogates; and text that spells escapes (`\\u0000`).
    const unit = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
      fc.constantFrom('\u0000', '\ud800', '\udc00', '\ud83d\ude00', '\\u0000', '\\ud800'),
    );
    const text = fc.string({ unit, maxLength: 8 });
    const payload = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(text, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(payload, (value) => {
        const held = textPostgresCanHold(value);
        const texts = (item: unknown): string[] =>
          typeof item === 'string'
            ? [item]
            : item && typeof item === 'object'
              ? Object.entries(item).flatMap(([key, inner]) => [key, ...texts(inner)])
              : [];
        expect(texts(held).filter((item) => unholdable.test(item))).toEqual([]);
        if (!texts(value).some((item) => unholdable.test(item))) expect(held).toBe(value);
        // Parsed from JSON text as the log adapter parses entries: held the same way.
        expect(textPostgresCanHold(parseHoldableJson(JSON.stringify(value)))).toEqual(held);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a Stripe Connect event (about a connected account) in the log and projects nothing from it', async () => {
    const fixture = loadEventFixtures().find((candidate) => candidate.event.type === 'customer.updated');
    if (!fixture) throw new Error('no customer.updated fixture');
    const event = freshEvent(fixture, { livemode: false, account: 'acct_connected' });
    event.data = {
      ...event.data,
      object: {
        ...event.data.object,
        id: 'cus_of_a_connected_account',
        metadata: { payfold_subject_type: 'team', payfold_subject_id: 'someone-elses-team' },
      },
    };
    const body = JSON.stringify(event);
    const answer = await postWebhook(server.url, 'test', body, {
      'stripe-signature': sign(body, testWebhookSecret),
    });
    expect(answer.status).toBe(200);
    await server.payfold.runner.catchUp();
    const { rows } = await db.pool.query(
      `select (select count(*)::int from payments.customers where customer_id = 'cus_of_a_connected_account') as customers,
              (select count(*)::int from payments.customer_mappings where subject_id = 'someone-elses-team') as mappings,
              (select count(*)::int from payfold.events where dedupe_key = $1) as logged`,
      [`stripe.event/test/${event.id}`],
    );
    expect(rows).toEqual([{ customers: 0, mappings: 0, logged: 1 }]);
  });
});
