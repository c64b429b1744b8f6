import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/adapters/postgres/event-log.js';
import { createPool } from '../src/adapters/postgres/pool.js';
import { verifyStripeSignature } from '../src/adapters/stripe/webhook-signature.js';
import { ingestStripeWebhook } from '../src/app/ingest-stripe-webhook.js';
import { LogBusyError, LogUnavailableError } from '../src/ports/event-log.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

describe('a stalled Postgres', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { PAYFOLD_APPEND_TIMEOUT_MS: '800' });
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  const signedEvent = () => {
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    const body = JSON.stringify(freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false }));
    return { body, headers: { 'stripe-signature': sign(body, testWebhookSecret) } };
  };

  it('answers 503 while the log cannot commit, so Stripe retries, and takes the retry once it can', async () => {
    const holder = await db.pool.connect();
    const event = signedEvent();
    try {
      await holder.query('begin');
      await holder.query('lock table payfold.events in exclusive mode');
      const started = Date.now();
      const answer = await postWebhook(server.url, 'test', event.body, event.headers);
      expect(answer).toMatchObject({ status: 503, body: { error: { code: 'log_busy' } } });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    // Stripe's retry: stored now (or found stored, if the late commit came first).
    const retried = await postWebhook(server.url, 'test', event.body, event.headers);
    expect(retried).toMatchObject({ status: 200, body: { received: true } });
    const fresh = signedEvent();
    expect((await postWebhook(server.url, 'test', fresh.body, fresh.headers)).body).toEqual({
      received: true,
      duplicate: false,
    });
  });

  it('refuses appends at once when too many are waiting, so memory stays bounded', async () => {
    const log = new PostgresEventLog(db.pool, db.url, { maxPending: 3, appendDeadlineMs: 5000 });
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table payfold.events in exclusive mode');
      const entry = (key: string) => ({
        environment: 'test' as const,
        type: 'test.bounded',
        version: 1,
        dedupeKey: key,
        stream: 'test/bounded',
        data: '{}',
        metadata: {},
      });
      // Two batches in flight (each waiting on the lock), then three appends waiting for a batch.
      const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
      const first = log.append(entry('bounded-first'));
      await pause();
      const second = log.append(entry('bounded-second'));
      await pause();
      const queued = [0, 1, 2].map((index) => log.append(entry(`bounded-${index}`)));
      await expect(log.append(entry('bounded-refused'))).rejects.toBeInstanceOf(LogBusyError);
      await holder.query('rollback');
      expect((await Promise.all([first, second, ...queued])).map((result) => result.status)).toEqual(
        Array(5).fill('appended'),
      );
    } finally {
      holder.release();
    }
  });

  it('answers 503 log_unavailable, not 500, while Postgres cannot be reached, so Stripe retries', async () => {
    const unreachable = createPool('postgres://nobody@127.0.0.1:1/nothing', { max: 1 });
    const log = new PostgresEventLog(unreachable, 'postgres://nobody@127.0.0.1:1/nothing');
    const event = signedEvent();
    const rejected: string[] = [];
    const metrics = {
      stored: () => undefined,
      rejected: (reason: string) => void rejected.push(reason),
      appendStarted: () => () => undefined,
    };
    /** The event through the door, with the log above and signing secrets read as given. */
    const deliver = (webhookSecrets: () => Promise<string[]>) =>
      ingestStripeWebhook(
        {
          environment: 'test',
          rawBody: Buffer.from(event.body),
          signatureHeader: event.headers['stripe-signature'],
        },
        { log, metrics, webhookSecrets, verifySignature: verifyStripeSignature },
      );
    try {
      const appended = log.append({
        environment: 'test',
        type: 'test.unreachable',
        version: 1,
        dedupeKey: 'unreachable/1',
        stream: 'test/unreachable',
        data: '{}',
        metadata: {},
      });
      await expect(appended).rejects.toBeInstanceOf(LogUnavailableError);
      const outcome = await deliver(async () => [testWebhookSecret]);
      expect(outcome).toMatchObject({ kind: 'rejected', status: 503, reason: 'log_unavailable' });
      expect(rejected).toEqual(['log_unavailable']);
      const secretsUnreadable = await deliver(() =>
        unreachable.query('select 1').then(() => [testWebhookSecret]),
      );
      expect(secretsUnreadable).toMatchObject({
        kind: 'rejected',
        status: 503,
        reason: 'secrets_unavailable',
      });
    } finally {
      await unreachable.end();
    }
  });
});
