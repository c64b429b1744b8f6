import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { payfoldProcessEnv, startServeProcess, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

describe('a payfold serve process killed with SIGKILL under load', () => {
  let db: TestDatabase;
  let restarted: ChildProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    restarted?.kill('SIGKILL');
    await db.drop();
  });

  it('loses no webhook it answered with 2xx, and its projection resumes after a restart', async () => {
    const fixtures = loadEventFixtures().filter((fixture) => !fixture.event.livemode);
    const { child: server, url } = await startServeProcess([], payfoldProcessEnv(db.url, 0));
    const acknowledged: string[] = [];
    let sent = 0;
    let killed = false;

    const sender = async (worker: number) => {
      while (!killed) {
        const fixture = fixtures[(sent + worker) % fixtures.length];
        if (!fixture) continue;
        const event = freshEvent(fixture);
        const body = JSON.stringify(event);
        sent += 1;
        try {
          const response = await fetch(`${url}/api/webhooks/stripe/test`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'stripe-signature': sign(body, testWebhookSecret),
            },
            body,
          });
          if (response.ok) acknowledged.push(event.id);
        } catch {
          // The connection died with the process: not acknowledged, so Stripe would retry it.
        }
      }
    };
    const senders = Array.from({ length: 16 }, (_, worker) => sender(worker));
    await eventually(async () => expect(acknowledged.length).toBeGreaterThan(300), 30_000);
    // The senders go on until the process is gone, so some requests meet it dying or dead.
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
    killed = true;
    await Promise.all(senders);
    expect(sent).toBeGreaterThan(acknowledged.length);

    const { rows } = await db.pool.query<{ id: string }>("select data->>'id' as id from payfold.events");
    const stored = new Set(rows.map((row) => row.id));
    const lost = acknowledged.filter((id) => !stored.has(id));
    expect(lost).toEqual([]);

    restarted = (await startServeProcess([], payfoldProcessEnv(db.url, 0))).child;
    await eventually(async () =>
      expect(await countRows(db.pool, 'payments.webhook_events')).toBe(
        await countRows(db.pool, 'payfold.events'),
      ),
    );
  });
});
