import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import {
  liveWebhookSecret,
  postWebhook,
  startTestServer,
  type TestServer,
  testWebhookSecret,
} from './support/server.js';
import { freshEvent, freshEventId, loadEventFixtures, sign } from './support/stripe-events.js';

const fixtures = loadEventFixtures();
const anEvent = () => {
  const fixture = fixtures.find((f) => f.file === 'customer_updated.json');
  if (!fixture) throw new Error('customer_updated.json fixture missing');
  return freshEvent(fixture);
};
const secretFor = (livemode: boolean) => (livemode ? liveWebhookSecret : testWebhookSecret);

describe('POST /api/webhooks/stripe/:environment', () => {
  let db: TestDatabase;
  let server: TestServer;
  const logSize = () => countRows(db.pool, 'payfold.events');

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('stores every fixture once, in the environment of its livemode, and projects its delivery', async () => {
    expect(fixtures.length).toBe(71);
    const delivered = [];
    for (const fixture of fixtures) {
      const event = freshEvent(fixture);
      const environment = event.livemode ? 'live' : 'test';
      const body = JSON.stringify(event);
      const first = await postWebhook(server.url, environment, body, {
        'stripe-signature': sign(body, secretFor(event.livemode)),
      });
      expect(first, fixture.file).toEqual({ status: 200, body: { received: true, duplicate: false } });
      const again = await postWebhook(server.url, environment, body, {
        'stripe-signature': sign(body, secretFor(event.livemode)),
      });
      expect(again, fixture.file).toEqual({ status: 200, body: { received: true, duplicate: true } });
      delivered.push({ fixture, event, environment });
    }
    // Only this test's events are counted, so that it holds whichever tests ran before it.
    const ids = delivered.map(({ event }) => event.id);
    const { rows } = await db.pool.query<{ environment: string; id: string; n: string }>(
      "select environment, data->>'id' as id, count(*)::text as n from payfold.events where data->>'id' = any($1) group by 1, 2",
      [ids],
    );
    expect(rows).toHaveLength(71);
    expect(rows.every((row) => row.n === '1')).toBe(true);

    await eventually(async () => {
      const { rows: projected } = await db.pool.query(
        'select count(*)::int as n from payments.webhook_events where event_id = any($1)',
        [ids],
      );
      expect(projected[0].n).toBe(71);
    });
    for (const { fixture, event, environment } of delivered) {
      const { rows: projected } = await db.pool.query(
        'select event_type, api_version, livemode, object_type, object_id from payments.webhook_events where environment = $1 and event_id = $2',
        [environment, event.id],
      );
      const object = event.data.object;
      expect(projected, fixture.file).toEqual([
        {
          event_type: event.type,
          api_version: event.api_version,
          livemode: event.livemode,
          object_type: object.object ?? null,
          object_id: object.id ?? null,
        },
      ]);
    }
  });

  it('keeps the body it stores byte for byte, whatever the content type says', async () => {
    const event = anEvent();
    const body = `{ "id": "${event.id}",\n${JSON.stringify(event).slice(1)}`;
    const response = await postWebhook(server.url, 'test', body, {
      'stripe-signature': sign(body, testWebhookSecret),
      'content-type': 'text/plain',
    });
    expect(response.status).toBe(200);
    const { rows } = await db.pool.query(
      "select data::text as raw from payfold.events where data->>'id' = $1",
      [event.id],
    );
    expect(rows).toEqual([{ raw: body }]);

    const bare = JSON.stringify(anEvent());
    const withoutContentType = await fetch(`${server.url}/api/webhooks/stripe/test`, {
      method: 'POST',
      headers: { 'stripe-signature': sign(bare, testWebhookSecret) },
      body: Buffer.from(bare),
    });
    expect(withoutContentType.status).toBe(200);
  });

  it('stores 50 parallel copies of one delivery once, and answers each of the others as a duplicate', async () => {
    const event = anEvent();
    const body = JSON.stringify(event);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) }),
      ),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    const firsts = responses.filter(
      (response) => (response.body as { duplicate: boolean }).duplicate === false,
    );
    expect(firsts).toHaveLength(1);
    expect(await countRows(db.pool, `payfold.events where data->>'id' = '${event.id}'`)).toBe(1);
  });

  it('accepts a signature made with any of the comma-separated secrets during a rotation', async () => {
    const rotating = await startTestServer(db.url, {
      STRIPE_WEBHOOK_SECRET_TEST: `whsec_old_secret_before_rotation, ${testWebhookSecret}`,
    });
    try {
      const event = anEvent();
      const body = JSON.stringify(event);
      for (const secret of ['whsec_old_secret_before_rotation', testWebhookSecret]) {
        const response = await postWebhook(rotating.url, 'test', body, {
          'stripe-signature': sign(body, secret),
        });
        expect(response.status).toBe(200);
      }
    } finally {
      await rotating.payfold.close();
    }
  });

  describe('rejects bad requests without writing anything', () => {
    const signedEvent = (overrides: Record<string, unknown> = {}) => {
      const body = JSON.stringify({ ...anEvent(), ...overrides });
      return { body, signature: sign(body, testWebhookSecret) };
    };
    const cases: Array<{
      name: string;
      environment: string;
      request: () => { body: string | Buffer; headers: Record<string, string> };
      status: number;
      code: string;
    }> = [
      {
        name: 'an unknown environment',
        environment: 'staging',
        request: () => {
          const { body, signature } = signedEvent();
          return { body, headers: { 'stripe-signature': signature } };
        },
        status: 404,
        code: 'unknown_environment',
      },
      {
        name: 'a missing Stripe-Signature header',
        environment: 'test',
        request: () => ({ body: signedEvent().body, headers: {} }),
        status: 400,
        code: 'missing_signature',
      },
      {
        name: 'a signature made with another secret',
        environment: 'test',
        request: () => {
          const body = JSON.stringify(anEvent());
          return { body, headers: { 'stripe-signature': sign(body, 'whsec_someone_else') } };
        },
        status: 400,
        code: 'bad_signature',
      },
      {
        name: 'a body changed after signing',
        environment: 'test',
        request: () => {
          const { body, signature } = signedEvent();
          return {
            body: body.replace('"livemode":false', '"livemode":false ,"x":1'),
            headers: { 'stripe-signature': signature },
          };
        },
        status: 400,
        code: 'bad_signature',
      },
      {
        name: 'a signature older than 300 seconds',
        environment: 'test',
        request: () => {
          const body = JSON.stringify(anEvent());
          const stale = Math.floor(Date.now() / 1000) - 301;
          return { body, headers: { 'stripe-signature': sign(body, testWebhookSecret, stale) } };
        },
        status: 400,
        code: 'bad_signature',
      },
      {
        name: 'a signed body that is not JSON',
        environment: 'test',
        request: () => {
          const body = 'id=evt_123&type=customer.updated';
          return { body, headers: { 'stripe-signature': sign(body, testWebhookSecret) } };
        },
        status: 400,
        code: 'not_json',
      },
      {
        name: 'signed JSON that is not a Stripe event',
        environment: 'test',
        request: () => {
          const body = JSON.stringify({ id: freshEventId(), hello: 'world' });
          return { body, headers: { 'stripe-signature': sign(body, testWebhookSecret) } };
        },
        status: 400,
        code: 'invalid_event',
      },
      {
        name: 'a live event sent to the test endpoint',
        environment: 'test',
        request: () => {
          const { body, signature } = signedEvent({ livemode: true });
          return { body, headers: { 'stripe-signature': signature } };
        },
        status: 400,
        code: 'livemode_mismatch',
      },
      {
        name: 'a body over 1 MiB',
        environment: 'test',
        request: () => {
          const body = JSON.stringify({ ...anEvent(), padding: 'x'.repeat(1024 * 1024) });
          return { body, headers: { 'stripe-signature': sign(body, testWebhookSecret) } };
        },
        status: 413,
        code: 'payload_too_large',
      },
    ];

    for (const testCase of cases) {
      it(`${testCase.status} for ${testCase.name}`, async () => {
        const before = await logSize();
        const { body, headers } = testCase.request();
        const response = await postWebhook(server.url, testCase.environment, body, headers);
        expect(response.status).toBe(testCase.status);
        expect(response.body).toMatchObject({ error: { code: testCase.code } });
        expect(await logSize()).toBe(before);
      });
    }

    it('503 while an environment has no signing secret, so that Stripe retries', async () => {
      const noSecrets = await startTestServer(db.url, { STRIPE_WEBHOOK_SECRET_LIVE: '' });
      try {
        const before = await logSize();
        const body = JSON.stringify({ ...anEvent(), livemode: true });
        const response = await postWebhook(noSecrets.url, 'live', body, {
          'stripe-signature': sign(body, liveWebhookSecret),
        });
        expect(response.status).toBe(503);
        expect(response.body).toMatchObject({ error: { code: 'no_signing_secret' } });
        expect(await logSize()).toBe(before);
      } finally {
        await noSecrets.payfold.close();
      }
    });
  });

  /** The value of one metric series in the Prometheus text, 0 when it has not been counted yet. */
  const metric = async (series: string): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  it('counts deliveries, duplicates and rejections by reason in /metrics', async () => {
    const series = [
      'payfold_webhooks_received_total{environment="test"}',
      'payfold_webhooks_duplicate_total{environment="test"}',
      'payfold_webhooks_rejected_total{reason="bad_signature"}',
      'payfold_webhooks_rejected_total{reason="body_too_large"}',
    ];
    const before = await Promise.all(series.map(metric));
    const body = JSON.stringify(anEvent());
    const signed = { 'stripe-signature': sign(body, testWebhookSecret) };
    await postWebhook(server.url, 'test', body, signed);
    await postWebhook(server.url, 'test', body, signed);
    await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, 'whsec_not_ours') });
    await postWebhook(server.url, 'test', 'x'.repeat(1024 * 1024 + 1), signed);
    const after = await Promise.all(series.map(metric));
    expect(after.map((value, index) => value - (before[index] as number))).toEqual([1, 1, 1, 1]);

    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/payfold_event_append_seconds_bucket/);
    const head = Number(/payfold_event_log_head_position (\d+)/.exec(text)?.[1]);
    expect(head).toBeGreaterThanOrEqual(await logSize());
    expect(head).toBeGreaterThan(0);
  });

  it('never writes a signing secret, a signature or a payload to its logs', async () => {
    const body = JSON.stringify(anEvent());
    await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) });
    await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, 'whsec_not_ours') });
    const logs = server.logLines.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain('whsec_');
    expect(logs).not.toContain('v1=');
    expect(logs).not.toContain('"data":{"object"');
  });
});
